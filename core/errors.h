// Typed exceptions thrown by the core. Adapters translate them into
// QgsProcessingException; every message names the problem and, where there is one, the fix.
#pragma once

#include <stdexcept>
#include <string>

namespace dequnmix {

// Base of every error the core throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A parameter or a data shape the method cannot work with (wrong counts, sizes, ranges).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// A file that cannot be read, parsed or written.
class IoError : public Error {
 public:
  using Error::Error;
};

// A data-parallel run lost a rank or could not reach the others (core/distributed).
class DistributedError : public Error {
 public:
  using Error::Error;
};

// The caller asked to stop (ProgressSink::isCanceled()).
class Canceled : public Error {
 public:
  Canceled() : Error("canceled by the user") {}
};

// A number as messages print it: up to 10 significant digits, no trailing zeros.
std::string messageNumber(double value);

}  // namespace dequnmix

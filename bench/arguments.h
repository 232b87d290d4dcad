// One small command-line parser for the benchmarks: each benchmark declares its options
// once (name, target variable, help), and the parser fills the targets, rejects unknown
// options and bad values with a message naming the option, and writes --help from the
// same declarations, so the help text cannot drift from what is parsed.
//
//   Arguments args("bench_x", "What the benchmark prints.");
//   args.option("--epochs", epochs, "N", "training epochs");   // default shown: epochs' value
//   args.flag("--tsv", tsv, "tab-separated rows");
//   args.parseOrExit(argc, argv);
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dequnmix::bench {

// A command line that does not fit the declared options; the message names the option.
class ArgumentError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class Arguments {
 public:
  Arguments(std::string program, std::string summary);

  // A boolean option without a value: when given, sets `target` to `setTo`.
  void flag(const std::string& name, bool& target, const std::string& help, bool setTo = true);

  // An option with one value, parsed into `target` (int, uint64_t, double, std::string or
  // std::vector<int> written "1,2,3"). --help shows the target's value at declaration as
  // the default, or `shownDefault` where that value is a sentinel ("the core's").
  template <class T>
  void option(const std::string& name, T& target, const std::string& metavar,
              const std::string& help, const std::string& shownDefault = "");

  // Fills the targets from argv; false when --help (or -h) was given and the help printed.
  // Throws ArgumentError on an unknown option, a missing value or a value that does not parse.
  bool parse(int argc, const char* const* argv);

  // parse(), for a benchmark's main: exits 0 after --help, or 2 with the message on stderr
  // (nothing has been allocated yet, so there is nothing to unwind).
  void parseOrExit(int argc, const char* const* argv);

  std::string help() const;

  // The options given, as typed and in order, less those named in `except`: to re-run this
  // executable in a child process with the same settings.
  std::vector<std::string> given(const std::vector<std::string>& except = {}) const;

 private:
  struct Option {
    std::string name, metavar, help, shownDefault;
    std::function<void(const std::string&)> set;  // parses the value (or "" for a flag)
  };
  void add(Option option);
  const Option* find(const std::string& name) const;

  std::string program_, summary_;
  std::vector<Option> options_;
  std::vector<std::pair<std::string, std::string>> given_;  // name, value ("" for a flag)
};

// The value parsers behind option(), exposed for tests; each names `name` in its error.
int parseInt(const std::string& name, const std::string& text);
uint64_t parseUnsigned(const std::string& name, const std::string& text);
double parseDouble(const std::string& name, const std::string& text);
std::vector<int> parseIntList(const std::string& name, const std::string& text);

}  // namespace dequnmix::bench

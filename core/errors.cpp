// Message helpers (errors.h).
#include "core/errors.h"

#include <sstream>

namespace dequnmix {

std::string messageNumber(double value) {
  std::ostringstream s;
  s.precision(10);
  s << value;
  return s.str();
}

}  // namespace dequnmix

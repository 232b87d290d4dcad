// Small string helpers shared by the readers of CSV, ENVI headers and raster metadata.
#pragma once

#include <cctype>
#include <string>

namespace dequnmix {

// ASCII lower case (header keys, units and extensions are ASCII).
inline std::string toLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// `s` without leading and trailing characters from `strip` (whitespace by default).
inline std::string trim(const std::string& s, const char* strip = " \t\r\n\v\f") {
  const size_t a = s.find_first_not_of(strip);
  if (a == std::string::npos) return {};
  return s.substr(a, s.find_last_not_of(strip) - a + 1);
}

}  // namespace dequnmix

#include "core/endmember_table.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "core/errors.h"

namespace dequnmix {
namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

[[noreturn]] void fail(const std::string& path, int line, const std::string& problem) {
  throw IoError("endmember CSV " + path + (line > 0 ? ", line " + std::to_string(line) : "") +
                ": " + problem);
}

// Splits one CSV record (RFC 4180 quoting: "a ""b""",c), trimming unquoted whitespace.
std::vector<std::string> splitRecord(const std::string& line, const std::string& path, int lineNo) {
  std::vector<std::string> cells;
  std::string cell;
  bool quoted = false, wasQuoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cell += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cell += c;
      }
    } else if (c == '"' && trim(cell).empty()) {
      quoted = wasQuoted = true;
      cell.clear();
    } else if (c == ',') {
      cells.push_back(wasQuoted ? cell : trim(cell));
      cell.clear();
      wasQuoted = false;
    } else {
      cell += c;
    }
  }
  if (quoted) fail(path, lineNo, "unterminated quoted cell");
  cells.push_back(wasQuoted ? cell : trim(cell));
  return cells;
}

bool parseNumber(const std::string& text, double& value) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && errno != ERANGE && std::isfinite(value);
}

// The shortest %g form (from 15 significant digits up) that reads back to the same double.
std::string formatDouble(double v) {
  char buf[64];
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// The shortest %g form that reads back to the same float (at most 9 digits are needed).
std::string formatFloat(float v) {
  char buf[64];
  for (int digits = 6; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v) break;
  }
  return buf;
}

std::string quoteIfNeeded(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos && trim(s) == s) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

EndmemberTable readEndmemberCsv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, 0, "cannot open the file (does it exist and is it readable?)");

  std::string line;
  int lineNo = 0;
  std::vector<std::string> header;
  // The header is the first non-blank line.
  while (std::getline(in, line)) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lineNo == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 BOM
    if (!trim(line).empty()) break;
  }
  if (trim(line).empty()) fail(path, 0, "the file is empty; expected a header row");
  header = splitRecord(line, path, lineNo);
  const int headerLine = lineNo;

  int bandCol = -1, wavelengthCol = -1;
  std::vector<int> endmemberCols;
  EndmemberTable table;
  std::set<std::string> seenNames;
  for (size_t c = 0; c < header.size(); ++c) {
    const std::string key = lower(header[c]);
    if (key == "band") {
      if (bandCol >= 0) fail(path, headerLine, "two 'band' columns");
      bandCol = static_cast<int>(c);
    } else if (key == "wavelength" || key == "wavelength_nm") {
      if (wavelengthCol >= 0) fail(path, headerLine, "two wavelength columns");
      wavelengthCol = static_cast<int>(c);
    } else {
      if (header[c].empty()) {
        fail(path, headerLine,
             "column " + std::to_string(c + 1) +
                 " has an empty header; name every endmember column");
      }
      if (!seenNames.insert(header[c]).second) {
        fail(path, headerLine,
             "two endmember columns are named '" + header[c] + "'; endmember names must be unique");
      }
      endmemberCols.push_back(static_cast<int>(c));
      table.names.push_back(header[c]);
    }
  }
  if (bandCol < 0) {
    fail(path, headerLine,
         "no 'band' column; the header must hold 'band' (1-based band number), optionally "
         "'wavelength' or 'wavelength_nm', and one column per endmember");
  }
  if (endmemberCols.empty()) {
    fail(path, headerLine, "no endmember column; add one column per endmember, headed by its name");
  }

  const int p = static_cast<int>(endmemberCols.size());
  while (std::getline(in, line)) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const std::vector<std::string> cells = splitRecord(line, path, lineNo);
    if (cells.size() != header.size()) {
      fail(path, lineNo,
           "ragged row: " + std::to_string(cells.size()) + " cells where the header has " +
               std::to_string(header.size()));
    }
    double band = 0;
    if (!parseNumber(cells[bandCol], band)) {
      fail(path, lineNo, "band number '" + cells[bandCol] + "' is not a number");
    }
    if (band != static_cast<double>(table.bands + 1)) {
      fail(path, lineNo,
           "band number " + cells[bandCol] + " where " + std::to_string(table.bands + 1) +
               " was expected; bands must be numbered 1, 2, ... in order");
    }
    if (wavelengthCol >= 0) {
      double wl = 0;
      if (!parseNumber(cells[wavelengthCol], wl)) {
        fail(path, lineNo, "wavelength '" + cells[wavelengthCol] + "' is not a number");
      }
      table.wavelengths.push_back(wl);
    }
    for (int e = 0; e < p; ++e) {
      double v = 0;
      const std::string& cell = cells[endmemberCols[e]];
      if (!parseNumber(cell, v) || std::fabs(v) > std::numeric_limits<float>::max()) {
        fail(path, lineNo,
             "value '" + cell + "' of endmember '" + table.names[e] + "' is not a finite number");
      }
      // strtof, not a cast of the double: no double rounding, so written floats read back
      // bit for bit.
      table.values.push_back(std::strtof(cell.c_str(), nullptr));
    }
    ++table.bands;
  }
  if (in.bad()) fail(path, lineNo, "read error");
  if (table.bands == 0) fail(path, headerLine, "no band rows after the header");
  return table;
}

void writeEndmemberCsv(const std::string& path, const EndmemberTable& table) {
  const int p = table.endmembers();
  if (p < 1 || table.bands < 1 || table.values.size() != static_cast<size_t>(table.bands) * p) {
    throw InvalidArgument("endmember table is inconsistent: " + std::to_string(table.bands) +
                          " bands x " + std::to_string(p) + " endmembers but " +
                          std::to_string(table.values.size()) + " values");
  }
  if (!table.wavelengths.empty() && table.wavelengths.size() != static_cast<size_t>(table.bands)) {
    throw InvalidArgument("endmember table has " + std::to_string(table.wavelengths.size()) +
                          " wavelengths for " + std::to_string(table.bands) + " bands");
  }
  for (size_t i = 0; i < table.values.size(); ++i) {
    if (!std::isfinite(table.values[i])) {
      throw InvalidArgument("endmember '" + table.names[i % p] +
                            "' has a non-finite value in band " + std::to_string(i / p + 1));
    }
  }
  for (const std::string& name : table.names) {
    const std::string key = lower(trim(name));
    if (key.empty() || key == "band" || key == "wavelength" || key == "wavelength_nm") {
      throw InvalidArgument("endmember name '" + name +
                            "' cannot be used (empty or a reserved column name); rename it");
    }
  }
  // A sibling temporary file, renamed over the target only once complete.
  std::random_device rd;
  const std::string tmp = path + ".tmp" + std::to_string(rd() % 1000000);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw IoError("cannot write the endmember CSV " + path +
                    ": the folder does not exist or is not writable; choose another path");
    }
    out << "band";
    if (!table.wavelengths.empty()) out << ",wavelength_nm";
    for (const std::string& name : table.names) out << ',' << quoteIfNeeded(name);
    out << '\n';
    for (int b = 0; b < table.bands; ++b) {
      out << (b + 1);
      if (!table.wavelengths.empty()) out << ',' << formatDouble(table.wavelengths[b]);
      for (int e = 0; e < p; ++e) out << ',' << formatFloat(table.at(b, e));
      out << '\n';
    }
    out.flush();
    if (!out) {
      out.close();
      std::remove(tmp.c_str());
      throw IoError("writing the endmember CSV " + path + " failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw IoError("cannot write the endmember CSV " + path +
                  " (renaming the temporary file failed); choose another path");
  }
}

std::vector<std::string> defaultEndmemberNames(int count) {
  std::vector<std::string> names;
  for (int i = 1; i <= count; ++i) names.push_back("endmember_" + std::to_string(i));
  return names;
}

}  // namespace dequnmix

#include "core/io/endmember_table.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "core/io/atomic_file.h"
#include "core/io/text.h"

namespace dequnmix {
namespace {

[[noreturn]] void fail(const std::string& path, int line, const std::string& problem) {
  throw IoError("endmember CSV " + path + (line > 0 ? ", line " + std::to_string(line) : "") +
                ": " + problem);
}

// Splits one CSV record (RFC 4180 quoting: "a ""b""",c), trimming unquoted whitespace.
std::vector<std::string> splitRecord(const std::string& line, char delimiter,
                                     const std::string& path, int lineNo) {
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
    } else if (c == delimiter) {
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

// The header's delimiter: ',' when it has one, else ';' (European spreadsheets, whose
// numbers then use decimal commas) or a tab.
char delimiterOf(const std::string& header) {
  if (header.find(',') != std::string::npos) return ',';
  if (header.find(';') != std::string::npos) return ';';
  if (header.find('\t') != std::string::npos) return '\t';
  return ',';
}

// A number cell in C notation ("0,123" -> "0.123" where the comma is not the delimiter).
std::string cNumber(std::string cell, char delimiter) {
  if (delimiter != ',') std::replace(cell.begin(), cell.end(), ',', '.');
  return cell;
}

// Lead and continuation bytes only (enough to tell Latin-1 text apart: its accented
// letters are not followed by continuation bytes).
bool validUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = s[i];
    int more = c < 0x80             ? 0
               : (c & 0xE0) == 0xC0 ? 1
               : (c & 0xF0) == 0xE0 ? 2
               : (c & 0xF8) == 0xF0 ? 3
                                    : -1;
    if (more < 0 || i + more >= s.size()) return false;
    for (; more > 0; --more)
      if ((static_cast<unsigned char>(s[++i]) & 0xC0) != 0x80) return false;
  }
  return true;
}

// Files that are not UTF-8 are taken as Latin-1 (ISO-8859-1, what older Windows tools
// write), whose bytes are the first 256 code points.
std::string latin1ToUtf8(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const unsigned char c = ch;
    if (c < 0x80) {
      out += ch;
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
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

// The whole file as UTF-8 text, without a byte-order mark.
std::string readUtf8Text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) fail(path, 0, "cannot open the file (does it exist and is it readable?)");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) fail(path, 0, "read error");
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 BOM
  if (!validUtf8(text)) text = latin1ToUtf8(text);
  return text;
}

// The next non-blank line (without a trailing CR), counting lines in lineNo; false at the end.
bool nextNonBlankLine(std::istream& in, std::string& line, int& lineNo) {
  while (std::getline(in, line)) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!trim(line).empty()) return true;
  }
  return false;
}

// Positions of the header's columns.
struct Columns {
  size_t count = 0;
  int band = -1;
  int wavelength = -1;  // -1: none
  std::vector<int> endmembers;
};

// Finds the band, wavelength and endmember columns; the endmember names go to `names`.
Columns parseHeader(const std::vector<std::string>& header, const std::string& path, int line,
                    std::vector<std::string>& names) {
  Columns cols;
  cols.count = header.size();
  std::set<std::string> seenNames;
  for (size_t c = 0; c < header.size(); ++c) {
    const std::string key = toLower(header[c]);
    if (key == "band") {
      if (cols.band >= 0) fail(path, line, "two 'band' columns");
      cols.band = static_cast<int>(c);
    } else if (key == "wavelength" || key == "wavelength_nm") {
      if (cols.wavelength >= 0) fail(path, line, "two wavelength columns");
      cols.wavelength = static_cast<int>(c);
    } else {
      if (header[c].empty()) {
        fail(path, line,
             "column " + std::to_string(c + 1) +
                 " has an empty header; name every endmember column");
      }
      if (!seenNames.insert(header[c]).second) {
        fail(path, line,
             "two endmember columns are named '" + header[c] + "'; endmember names must be unique");
      }
      cols.endmembers.push_back(static_cast<int>(c));
      names.push_back(header[c]);
    }
  }
  if (cols.band < 0) {
    fail(path, line,
         "no 'band' column; the header must hold 'band' (1-based band number), optionally "
         "'wavelength' or 'wavelength_nm', and one column per endmember");
  }
  if (cols.endmembers.empty()) {
    fail(path, line, "no endmember column; add one column per endmember, headed by its name");
  }
  return cols;
}

// Appends the band row `cells` (band table.bands + 1) to the table.
void appendBandRow(const std::vector<std::string>& cells, const Columns& cols, char delimiter,
                   const std::string& path, int lineNo, EndmemberTable& table) {
  if (cells.size() != cols.count) {
    fail(path, lineNo,
         "ragged row: " + std::to_string(cells.size()) + " cells where the header has " +
             std::to_string(cols.count));
  }
  double band = 0;
  if (!parseNumber(cNumber(cells[cols.band], delimiter), band)) {
    fail(path, lineNo, "band number '" + cells[cols.band] + "' is not a number");
  }
  if (band != static_cast<double>(table.bands + 1)) {
    fail(path, lineNo,
         "band number " + cells[cols.band] + " where " + std::to_string(table.bands + 1) +
             " was expected; bands must be numbered 1, 2, ... in order");
  }
  if (cols.wavelength >= 0) {
    double wl = 0;
    if (!parseNumber(cNumber(cells[cols.wavelength], delimiter), wl)) {
      fail(path, lineNo, "wavelength '" + cells[cols.wavelength] + "' is not a number");
    }
    table.wavelengths.push_back(wl);
  }
  for (size_t e = 0; e < cols.endmembers.size(); ++e) {
    double v = 0;
    const std::string& cell = cells[cols.endmembers[e]];
    const std::string number = cNumber(cell, delimiter);
    if (!parseNumber(number, v) || std::fabs(v) > std::numeric_limits<float>::max()) {
      fail(path, lineNo,
           "value '" + cell + "' of endmember '" + table.names[e] + "' is not a finite number");
    }
    // strtof, not a cast of the double: no double rounding, so written floats read back
    // bit for bit.
    table.values.push_back(std::strtof(number.c_str(), nullptr));
  }
  ++table.bands;
}

// InvalidArgument unless the table can be written and read back as it is.
void checkWritable(const EndmemberTable& table) {
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
    const std::string key = toLower(trim(name));
    if (key.empty() || key == "band" || key == "wavelength" || key == "wavelength_nm") {
      throw InvalidArgument("endmember name '" + name +
                            "' cannot be used (empty or a reserved column name); rename it");
    }
  }
}

void writeCsvText(std::ostream& out, const EndmemberTable& table) {
  out << "band";
  if (!table.wavelengths.empty()) out << ",wavelength_nm";
  for (const std::string& name : table.names) out << ',' << quoteIfNeeded(name);
  out << '\n';
  for (int b = 0; b < table.bands; ++b) {
    out << (b + 1);
    if (!table.wavelengths.empty()) out << ',' << formatDouble(table.wavelengths[b]);
    for (int e = 0; e < table.endmembers(); ++e) out << ',' << formatFloat(table.at(b, e));
    out << '\n';
  }
}

}  // namespace

EndmemberTable readEndmemberCsv(const std::string& path) {
  std::istringstream in(readUtf8Text(path));
  std::string line;
  int lineNo = 0;
  // The header is the first non-blank line.
  if (!nextNonBlankLine(in, line, lineNo)) {
    fail(path, 0, "the file is empty; expected a header row");
  }
  const char delimiter = delimiterOf(line);
  const int headerLine = lineNo;
  EndmemberTable table;
  const Columns cols =
      parseHeader(splitRecord(line, delimiter, path, lineNo), path, headerLine, table.names);
  while (nextNonBlankLine(in, line, lineNo)) {
    appendBandRow(splitRecord(line, delimiter, path, lineNo), cols, delimiter, path, lineNo, table);
  }
  if (table.bands == 0) fail(path, headerLine, "no band rows after the header");
  return table;
}

void writeEndmemberCsv(const std::string& path, const EndmemberTable& table) {
  checkWritable(table);
  std::ostringstream text;
  writeCsvText(text, table);
  writeFileAtomically(path, "the endmember CSV", text.str());
}

std::vector<std::string> defaultEndmemberNames(int count) {
  std::vector<std::string> names;
  for (int i = 1; i <= count; ++i) names.push_back("endmember_" + std::to_string(i));
  return names;
}

}  // namespace dequnmix

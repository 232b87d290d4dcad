// Endmember spectra and their CSV format: a header row, then one
// row per band with a 1-based `band` column, an optional `wavelength` or `wavelength_nm`
// column, and one column per endmember named after it.
#pragma once

#include <string>
#include <vector>

namespace dequnmix {

struct EndmemberTable {
  std::vector<std::string> names;  // one per endmember
  std::vector<double> wavelengths;  // empty, or one per band (nm)
  int bands = 0;
  std::vector<float> values;  // bands x endmembers, row-major: values[b * endmembers() + e]

  int endmembers() const { return static_cast<int>(names.size()); }
  float at(int band, int endmember) const { return values[band * endmembers() + endmember]; }
};

// Reads and validates a CSV; throws IoError naming the file, line and problem (missing
// file, no endmember column, non-numeric cell, ragged row, bands not 1..L in order). A
// header without commas may use ';' (then numbers may use decimal commas, as European
// spreadsheets write them) or tabs; a file that is not UTF-8 is read as Latin-1.
EndmemberTable readEndmemberCsv(const std::string& path);

// Writes the table (with a wavelength_nm column when wavelengths are known). The file is
// written under a temporary name and renamed, so a failure leaves no complete-looking file.
// Throws IoError when the path cannot be written.
void writeEndmemberCsv(const std::string& path, const EndmemberTable& table);

// Default names "endmember_1", "endmember_2", ...
std::vector<std::string> defaultEndmemberNames(int count);

}  // namespace dequnmix

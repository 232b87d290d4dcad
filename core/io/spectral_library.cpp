// Spectral libraries (spectral_library.h).
#include "core/io/spectral_library.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "core/errors.h"
#include "core/io/atomic_file.h"
#include "core/io/spectral_metadata.h"
#include "core/io/text.h"

namespace dequnmix {

namespace {

std::string extension(const std::string& path) {
  const size_t dot = path.find_last_of('.');
  const size_t slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
  return toLower(path.substr(dot));
}

std::string withoutExtension(const std::string& path) {
  return extension(path).empty() ? path : path.substr(0, path.size() - extension(path).size());
}

bool exists(const std::string& path) { return static_cast<bool>(std::ifstream(path)); }

// key = value pairs of an ENVI header, keys lower-case; {...} values may span lines.
std::map<std::string, std::string> parseHeader(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot open the ENVI header '" + path + "'");
  std::string first;
  std::getline(in, first);
  if (trim(first) != "ENVI") throw IoError("'" + path + "' is not an ENVI header (no 'ENVI' line)");
  std::map<std::string, std::string> fields;
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = toLower(trim(line.substr(0, eq)));
    std::string value = trim(line.substr(eq + 1));
    if (!value.empty() && value[0] == '{')
      while (value.find('}') == std::string::npos && std::getline(in, line)) value += " " + line;
    fields[key] = value;
  }
  return fields;
}

int headerInt(const std::map<std::string, std::string>& h, const std::string& key,
              const std::string& path, int fallback = -1) {
  const auto it = h.find(key);
  if (it == h.end()) {
    if (fallback >= 0) return fallback;
    throw IoError("ENVI header '" + path + "' has no '" + key + "'");
  }
  char* end = nullptr;
  const long v = std::strtol(it->second.c_str(), &end, 10);
  if (end == it->second.c_str() || v < 0)
    throw IoError("ENVI header '" + path + "': '" + key + "' is not a count");
  return static_cast<int>(v);
}

std::vector<std::string> nameList(const std::string& braced) {
  std::string body = trim(braced);
  if (!body.empty() && body.front() == '{') body = body.substr(1);
  if (!body.empty() && body.back() == '}') body.pop_back();
  std::vector<std::string> names;
  std::stringstream s(body);
  for (std::string item; std::getline(s, item, ',');) names.push_back(trim(item));
  return names;
}

// The header and data files of an ENVI library named by either.
std::pair<std::string, std::string> libraryFiles(const std::string& path) {
  if (extension(path) == ".hdr") {
    const std::string stem = withoutExtension(path);
    for (const std::string& data : {stem + ".sli", stem})
      if (exists(data) && data != path) return {path, data};
    return {path, stem + ".sli"};
  }
  const std::string header =
      exists(withoutExtension(path) + ".hdr") ? withoutExtension(path) + ".hdr" : path + ".hdr";
  return {header, path};
}

std::vector<double> readValues(const std::string& path, int type, bool bigEndian, int64_t offset,
                               size_t count) {
  const size_t size = type == 5 ? 8 : 4;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open the ENVI library data '" + path + "'");
  in.seekg(offset);
  std::vector<char> bytes(count * size);
  if (!in.read(bytes.data(), std::streamsize(bytes.size())))
    throw IoError("ENVI library data '" + path + "' is shorter than its header says (" +
                  std::to_string(count) + " values)");
  std::vector<double> values(count);
  for (size_t i = 0; i < count; ++i) {
    char* p = bytes.data() + i * size;
    if (bigEndian) std::reverse(p, p + size);
    if (type == 5) {
      std::memcpy(&values[i], p, 8);
    } else {
      float f;
      std::memcpy(&f, p, 4);
      values[i] = f;
    }
  }
  return values;
}

}  // namespace

EndmemberTable readEnviLibrary(const std::string& path) {
  const auto [headerPath, dataPath] = libraryFiles(path);
  const auto h = parseHeader(headerPath);
  const int bands = headerInt(h, "samples", headerPath),
            spectra = headerInt(h, "lines", headerPath);
  const int type = headerInt(h, "data type", headerPath);
  if (type != 4 && type != 5)
    throw IoError("ENVI library '" + headerPath + "' has data type " + std::to_string(type) +
                  "; only 4 (float) and 5 (double) are read");
  if (bands < 2 || spectra < 1)
    throw IoError("ENVI library '" + headerPath + "' holds no spectra of 2 or more bands");
  const std::vector<double> data =
      readValues(dataPath, type, headerInt(h, "byte order", headerPath, 0) == 1,
                 headerInt(h, "header offset", headerPath, 0), size_t(bands) * spectra);
  EndmemberTable t;
  t.bands = bands;
  t.names = h.count("spectra names") ? nameList(h.at("spectra names")) : std::vector<std::string>{};
  if (int(t.names.size()) != spectra) t.names = defaultEndmemberNames(spectra);
  if (h.count("wavelength")) {
    const std::vector<double> listed =
        parseEnviList(h.at("wavelength"), "ENVI library '" + headerPath + "' wavelength");
    if (int(listed.size()) != bands)
      throw IoError("ENVI library '" + headerPath + "' lists " + std::to_string(listed.size()) +
                    " wavelengths for " + std::to_string(bands) +
                    " bands (samples); fix the header's wavelength list");
    // Units that are not lengths (e.g. "Index") leave the library without wavelengths.
    t.wavelengths =
        wavelengthsToNm(listed, h.count("wavelength units") ? h.at("wavelength units") : "");
  }
  t.values.resize(size_t(bands) * spectra);
  for (int s = 0; s < spectra; ++s)
    for (int b = 0; b < bands; ++b)
      t.values[size_t(b) * spectra + s] = float(data[size_t(s) * bands + b]);
  return t;
}

void writeEnviLibrary(const std::string& path, const EndmemberTable& t) {
  const int P = t.endmembers();
  std::vector<uint8_t> bytes(size_t(t.bands) * P * 4);
  for (int s = 0; s < P; ++s)
    for (int b = 0; b < t.bands; ++b) {
      const float v = t.at(b, s);
      std::memcpy(&bytes[(size_t(s) * t.bands + b) * 4], &v, 4);  // little-endian hosts
    }
  std::ostringstream h;
  h.precision(10);
  h << "ENVI\ndescription = {deq-unmix endmember spectra}\nsamples = " << t.bands
    << "\nlines = " << P
    << "\nbands = 1\nheader offset = 0\nfile type = ENVI Spectral Library\ndata type = 4\n"
       "interleave = bsq\nbyte order = 0\n";
  if (!t.wavelengths.empty()) {
    h << "wavelength units = Nanometers\nwavelength = {";
    for (size_t b = 0; b < t.wavelengths.size(); ++b) h << (b ? ", " : " ") << t.wavelengths[b];
    h << " }\n";
  }
  h << "spectra names = {";
  for (int s = 0; s < P; ++s) h << (s ? ", " : " ") << t.names[s];
  h << " }\n";
  writeFileAtomically(path, "the spectral library", bytes);
  writeFileAtomically(withoutExtension(path) + ".hdr", "the spectral library header", h.str());
}

bool isEnviLibrary(const std::string& path) {
  const std::string ext = extension(path);
  if (ext == ".sli") return true;
  if (ext != ".hdr") return false;
  try {
    const auto h = parseHeader(path);
    return h.count("file type") &&
           toLower(h.at("file type")).find("spectral library") != std::string::npos;
  } catch (const IoError&) {
    return false;
  }
}

EndmemberTable readSpectralLibrary(const std::string& path) {
  return isEnviLibrary(path) ? readEnviLibrary(path) : readEndmemberCsv(path);
}

void writeSpectralLibrary(const std::string& path, const EndmemberTable& table) {
  if (extension(path) == ".sli")
    writeEnviLibrary(path, table);
  else
    writeEndmemberCsv(path, table);
}

namespace {

// Value of spectrum s at wavelength w, linearly between the library's samples.
double interpolate(const EndmemberTable& t, const std::vector<int>& order, int s, double w) {
  const auto& x = t.wavelengths;
  size_t hi = 1;
  while (hi + 1 < order.size() && x[order[hi]] < w) ++hi;
  const int a = order[hi - 1], b = order[hi];
  const double f = x[b] == x[a] ? 0.0 : std::clamp((w - x[a]) / (x[b] - x[a]), 0.0, 1.0);
  return (1 - f) * t.at(a, s) + f * t.at(b, s);
}

// Gaussian response of FWHM `fwhm` at `centre` over the library samples within 3 sigma,
// weighted by each sample's spacing; linear interpolation where none falls inside.
double convolve(const EndmemberTable& t, const std::vector<int>& order, int s, double centre,
                double fwhm) {
  const auto& x = t.wavelengths;
  const double sigma = fwhm / 2.354820045;
  double sum = 0, weight = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    const double d = x[order[k]] - centre;
    if (std::abs(d) > 3 * sigma) continue;
    const double left = x[order[k > 0 ? k - 1 : k]],
                 right = x[order[k + 1 < order.size() ? k + 1 : k]];
    const double w = std::exp(-0.5 * d * d / (sigma * sigma)) * std::max(1e-9, (right - left) / 2);
    sum += w * t.at(order[k], s);
    weight += w;
  }
  return weight > 0 ? sum / weight : interpolate(t, order, s, centre);
}

}  // namespace

EndmemberTable resampleLibrary(const EndmemberTable& library, const std::vector<double>& centresNm,
                               const std::vector<double>& fwhmNm, LibraryResampling* how) {
  if (library.wavelengths.size() != size_t(library.bands) || library.bands < 2)
    throw InvalidArgument(
        "the spectral library states no wavelengths, so it cannot be matched "
        "to the scene's bands: give it a wavelength column (CSV) or list");
  LibraryResampling done;
  const bool same = library.wavelengths.size() == centresNm.size() &&
                    std::equal(centresNm.begin(), centresNm.end(), library.wavelengths.begin(),
                               [](double a, double b) { return std::abs(a - b) <= 0.5; });
  if (how) *how = done;
  if (same) return library;
  std::vector<int> order(library.bands);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return library.wavelengths[a] < library.wavelengths[b]; });
  const double low = library.wavelengths[order.front()], high = library.wavelengths[order.back()];
  for (size_t b = 0; b < centresNm.size(); ++b)
    if (centresNm[b] < low - 0.5 || centresNm[b] > high + 0.5)
      throw InvalidArgument("the spectral library covers " + messageNumber(low) + "-" +
                            messageNumber(high) + " nm, but scene band " + std::to_string(b + 1) +
                            " is at " + messageNumber(centresNm[b]) +
                            " nm: use a library covering the scene's range, or drop those "
                            "bands (BANDS, BAD_BANDS)");
  done = {true, fwhmNm.size() == centresNm.size()};
  EndmemberTable out;
  out.names = library.names;
  out.bands = int(centresNm.size());
  out.wavelengths = centresNm;
  out.values.resize(size_t(out.bands) * out.endmembers());
  for (int b = 0; b < out.bands; ++b)
    for (int s = 0; s < out.endmembers(); ++s)
      out.values[size_t(b) * out.endmembers() + s] =
          float(done.gaussian ? convolve(library, order, s, centresNm[b], fwhmNm[b])
                              : interpolate(library, order, s, centresNm[b]));
  if (how) *how = done;
  return out;
}

}  // namespace dequnmix

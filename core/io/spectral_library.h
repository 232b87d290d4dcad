// Spectral libraries in and out: ENVI spectral libraries (.sli with its .hdr), CSV
// (endmember_table.h), chosen by extension and content; and resampling a library to a
// scene's bands.
#pragma once

#include <string>
#include <vector>

#include "core/io/endmember_table.h"

namespace dequnmix {

// An ENVI spectral library: the header (`path` with .hdr, or the .sli's sidecar) gives
// `samples` (bands), `lines` (spectra), `data type` 4 or 5, `byte order`, `header offset`,
// `spectra names` and `wavelength` (with `wavelength units`, in nm on return). Throws
// IoError naming the file and the problem (missing header, unsupported data type, short
// data, a malformed list).
EndmemberTable readEnviLibrary(const std::string& path);

// Writes `path` (.sli, Float32, little-endian) and its .hdr atomically; wavelengths in nm
// when the table has them. Throws IoError when it cannot be written.
void writeEnviLibrary(const std::string& path, const EndmemberTable& table);

// Whether `path` names an ENVI spectral library (.sli, or a .hdr whose file type says so).
bool isEnviLibrary(const std::string& path);

// readEnviLibrary for ENVI libraries, readEndmemberCsv otherwise.
EndmemberTable readSpectralLibrary(const std::string& path);
// writeEnviLibrary for a .sli path, writeEndmemberCsv otherwise.
void writeSpectralLibrary(const std::string& path, const EndmemberTable& table);

// How a library was brought to a scene's bands.
struct LibraryResampling {
  bool resampled = false;  // false: the wavelengths already matched (within 0.5 nm)
  bool gaussian = false;   // Gaussian spectral response from the scene's FWHM, else linear
};

// The library's spectra at the scene's band centres `centresNm`: unchanged when its
// wavelengths match them; else each band is the library convolved with a Gaussian of the
// band's FWHM (`fwhmNm`, one per band, or empty), or linearly interpolated without FWHM.
// Throws InvalidArgument when the library has no wavelengths, or when a band centre lies
// outside the library's range (naming the band and both ranges).
EndmemberTable resampleLibrary(const EndmemberTable& library, const std::vector<double>& centresNm,
                               const std::vector<double>& fwhmNm,
                               LibraryResampling* how = nullptr);

}  // namespace dequnmix

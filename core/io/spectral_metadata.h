// Band centre wavelengths, widths and bad-band lists as raster metadata states them (ENVI
// headers, GDAL's IMAGERY domain, band descriptions), and the bad-band ranges users type.
// Plain text in, nanometres out: the GDAL adapter gathers the strings, this file reads them.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace dequnmix {

// Nanometres per unit for a wavelength-units string ("nm", "Nanometers", "um", "µm",
// "Micrometers", "microns", "mm"); 0 when the units are not a length (e.g. wavenumber) or
// are unknown.
double nanometresPerUnit(const std::string& units);

// The numbers of an ENVI header list, "{ 0.45, 0.46 , 0.47 }" or "0.45,0.46"; throws
// InvalidArgument naming `what` for an item that is not a number.
std::vector<double> parseEnviList(const std::string& text, const std::string& what);

// Wavelengths in nm from values whose units are `units` (possibly empty): values read as
// micrometres when the units are missing and every value is below 30 (no sensor band of
// interest lies below 30 nm), nanometres otherwise. Empty when the units are not a length.
std::vector<double> wavelengthsToNm(std::vector<double> values, const std::string& units);

// The wavelength in nm a band description states: "Band 12 (0.4500 um)", "450 nm",
// "B5: 865.0nm"; NaN when it states none.
double wavelengthFromDescription(const std::string& description);

// A wavelength range in nm, both ends included.
using WavelengthRange = std::pair<double, double>;

// "1340-1450;1790-1960;2450-2500" (separators ';' ',' or spaces; each range low-high in nm).
// Throws InvalidArgument naming `what` with the expected form for anything else.
std::vector<WavelengthRange> parseWavelengthRanges(const std::string& text,
                                                   const std::string& what);

// The water-vapour absorption windows dropped by `BAD_BANDS=auto` when the raster has no
// bad-band list: 1340-1450, 1790-1960 and 2450-2500 nm.
const std::vector<WavelengthRange>& waterVapourWindows();

// Indices (0-based, ascending) of the `wavelengths` outside every range.
std::vector<int> bandsOutside(const std::vector<double>& wavelengths,
                              const std::vector<WavelengthRange>& ranges);

// For each `wanted` wavelength, the index (0-based) of the `available` band within
// `toleranceNm` of it (the nearest). Throws InvalidArgument naming the first wanted
// wavelength without one, and the nearest available band.
std::vector<int> matchWavelengths(const std::vector<double>& wanted,
                                  const std::vector<double>& available, double toleranceNm);

}  // namespace dequnmix

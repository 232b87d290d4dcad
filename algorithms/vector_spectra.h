// Spectral libraries kept as QGIS vector layers (GeoPackage, GeoJSON, ...), one feature per
// spectrum, as spectral-library tools for QGIS write them: a name field and a field holding
// the profile, either a JSON object {"x": [...], "y": [...], "xUnit": "nm"} (a map field or
// JSON text) or a plain list of values. Read through QGIS's OGR provider; no plugin needed.
#pragma once

#include <QString>

#include "core/io/endmember_table.h"

namespace dequnmix::processing {

// Whether `path` (optionally with "|layername=...") names a vector dataset to read spectra
// from, by its extension.
bool isVectorSpectralLibrary(const QString& path);

// Every feature's spectrum; names from the "name" field (else the first text field, else
// spectrum_1, ...); wavelengths in nm from the profiles' x values when they have them.
// Throws dequnmix::IoError naming the layer and the problem (not a vector layer, no profile
// field, spectra of different lengths or wavelengths, a value that is not a number).
dequnmix::EndmemberTable readVectorSpectra(const QString& path);

}  // namespace dequnmix::processing

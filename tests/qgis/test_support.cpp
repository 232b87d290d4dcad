#include "test_support.h"

#include <cmath>
#include <iostream>
#include <limits>
#include <memory>
#include <stdexcept>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTextStream>

#include <gdal.h>

#include <qgsapplication.h>
#include <qgsexception.h>
#include <qgsprocessingalgorithm.h>
#include <qgsprocessingcontext.h>
#include <qgsprocessingfeedback.h>
#include <qgsprocessingregistry.h>
#include <qgsproject.h>

namespace dequnmix::testing {

RunResult runAlgorithm(const QString& id, const QVariantMap& parameters,
                       CapturingFeedback* feedback,
                       const std::function<void(QgsProcessingContext&)>& inspect) {
  RunResult result;
  const QgsProcessingAlgorithm* algorithm = QgsApplication::processingRegistry()->algorithmById(id);
  if (!algorithm) {
    result.error = QStringLiteral("no algorithm %1").arg(id);
    return result;
  }
  CapturingFeedback ownFeedback;
  CapturingFeedback* used = feedback ? feedback : &ownFeedback;
  QgsProcessingContext context;
  context.setProject(QgsProject::instance());
  try {
    bool ok = false;
    result.outputs =
        algorithm->run(parameters, context, used, &ok, QVariantMap(), /*catchExceptions=*/false);
    result.ok = ok;
    if (!ok) result.error = used->errors.join('\n');
  } catch (const QgsProcessingException& e) {
    result.ok = false;
    result.error = e.what();
  }
  if (inspect) inspect(context);
  return result;
}

QStringList parameterNames(const QString& id) {
  QStringList list;
  for (const auto* p :
       QgsApplication::processingRegistry()->algorithmById(id)->parameterDefinitions()) {
    list << p->name();
  }
  return list;
}

QStringList outputNames(const QString& id) {
  QStringList list;
  for (const auto* o :
       QgsApplication::processingRegistry()->algorithmById(id)->outputDefinitions()) {
    list << o->name();
  }
  list.sort();
  return list;
}

RasterData readRaster(const QString& path) {
  GDALAllRegister();
  GDALDatasetH dataset = GDALOpen(path.toUtf8().constData(), GA_ReadOnly);
  if (!dataset) throw std::runtime_error("cannot open " + path.toStdString());
  RasterData r;
  r.width = GDALGetRasterXSize(dataset);
  r.height = GDALGetRasterYSize(dataset);
  r.bands = GDALGetRasterCount(dataset);
  r.hasGeoTransform = GDALGetGeoTransform(dataset, r.geoTransform.data()) == CE_None;
  r.projectionWkt = GDALGetProjectionRef(dataset) ? GDALGetProjectionRef(dataset) : "";
  r.values.resize(static_cast<size_t>(r.width) * r.height * r.bands);
  for (int b = 0; b < r.bands; ++b) {
    GDALRasterBandH band = GDALGetRasterBand(dataset, b + 1);
    r.descriptions.emplace_back(GDALGetDescription(band));
    int has = 0;
    const double nodata = GDALGetRasterNoDataValue(band, &has);
    r.nodata.push_back(has ? nodata : std::numeric_limits<double>::quiet_NaN());
    if (GDALRasterIO(band, GF_Read, 0, 0, r.width, r.height,
                     &r.values[static_cast<size_t>(b) * r.width * r.height], r.width, r.height,
                     GDT_Float32, 0, 0) != CE_None) {
      GDALClose(dataset);
      throw std::runtime_error("cannot read " + path.toStdString());
    }
  }
  GDALClose(dataset);
  return r;
}

void writeRaster(const QString& path, const RasterData& r) {
  GDALAllRegister();
  GDALDriverH driver = GDALGetDriverByName("GTiff");
  GDALDatasetH dataset = GDALCreate(driver, path.toUtf8().constData(), r.width, r.height, r.bands,
                                    GDT_Float32, nullptr);
  if (!dataset) throw std::runtime_error("cannot create " + path.toStdString());
  if (r.hasGeoTransform) {
    std::array<double, 6> gt = r.geoTransform;
    GDALSetGeoTransform(dataset, gt.data());
  }
  if (!r.projectionWkt.empty()) GDALSetProjection(dataset, r.projectionWkt.c_str());
  for (int b = 0; b < r.bands; ++b) {
    GDALRasterBandH band = GDALGetRasterBand(dataset, b + 1);
    if (b < static_cast<int>(r.nodata.size()) && !std::isnan(r.nodata[b])) {
      GDALSetRasterNoDataValue(band, r.nodata[b]);
    }
    if (b < static_cast<int>(r.descriptions.size())) {
      GDALSetDescription(band, r.descriptions[b].c_str());
    }
    std::vector<float> data(r.values.begin() + static_cast<long>(b) * r.width * r.height,
                            r.values.begin() + static_cast<long>(b + 1) * r.width * r.height);
    if (GDALRasterIO(band, GF_Write, 0, 0, r.width, r.height, data.data(), r.width, r.height,
                     GDT_Float32, 0, 0) != CE_None) {
      GDALClose(dataset);
      throw std::runtime_error("cannot write " + path.toStdString());
    }
  }
  GDALClose(dataset);
}

void writeText(const QString& path, const QString& text) {
  QFile file(path);
  if (!file.open(QIODevice::WriteOnly | QIODevice::Text)) {
    throw std::runtime_error("cannot write " + path.toStdString());
  }
  QTextStream(&file) << text;
}

namespace {
QString enviList(const std::vector<double>& values, double factor) {
  QStringList items;
  for (double v : values) items << QString::number(v * factor, 'g', 10);
  return "{ " + items.join(", ") + " }";
}
}  // namespace

void writeEnviScene(const QString& imagePath, const RasterData& r,
                    const std::vector<double>& wavelengthsNm, const std::vector<double>& fwhmNm,
                    const std::vector<int>& badBandList) {
  QByteArray raw;
  for (float v : r.values) {
    const int16_t q = static_cast<int16_t>(std::lround(v * 10000.0f));
    raw.append(reinterpret_cast<const char*>(&q), sizeof q);
  }
  writeBytes(imagePath, raw);
  QString header = QStringLiteral(
                       "ENVI\nsamples = %1\nlines = %2\nbands = %3\nheader offset = 0\n"
                       "file type = ENVI Standard\ndata type = 2\ninterleave = bsq\n"
                       "byte order = 0\ndata ignore value = -9999\n"
                       "reflectance scale factor = 10000\nwavelength units = Micrometers\n"
                       "wavelength = %4\n")
                       .arg(r.width)
                       .arg(r.height)
                       .arg(r.bands)
                       .arg(enviList(wavelengthsNm, 1e-3));
  if (!fwhmNm.empty()) header += "fwhm = " + enviList(fwhmNm, 1e-3) + "\n";
  if (!badBandList.empty())
    header +=
        "bbl = " + enviList(std::vector<double>(badBandList.begin(), badBandList.end()), 1) + "\n";
  QString stem = imagePath;
  stem.chop(QFileInfo(imagePath).suffix().size() + 1);
  writeText(stem + ".hdr", header);
}

void writeEnviLibrary(const QString& sliPath, const QStringList& names,
                      const std::vector<double>& wavelengthsNm,
                      const std::vector<std::vector<float>>& spectra) {
  QByteArray data;
  for (const auto& spectrum : spectra)
    data.append(reinterpret_cast<const char*>(spectrum.data()), int(spectrum.size() * 4));
  writeBytes(sliPath, data);
  QString stem = sliPath;
  stem.chop(4);
  writeText(stem + ".hdr",
            QStringLiteral("ENVI\nsamples = %1\nlines = %2\nbands = 1\nheader offset = 0\n"
                           "file type = ENVI Spectral Library\ndata type = 4\nbyte order = 0\n"
                           "wavelength units = Nanometers\nwavelength = %3\n"
                           "spectra names = { %4 }\n")
                .arg(wavelengthsNm.size())
                .arg(spectra.size())
                .arg(enviList(wavelengthsNm, 1), names.join(", ")));
}

void writeBytes(const QString& path, const QByteArray& bytes) {
  QFile file(path);
  if (!file.open(QIODevice::WriteOnly))
    throw std::runtime_error("cannot write " + path.toStdString());
  file.write(bytes);
}

QByteArray readBytes(const QString& path) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) return {};
  return file.readAll();
}

QStringList filesIn(const QString& folder) {
  QDir dir(folder);
  return dir.entryList(QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot, QDir::Name);
}

void FolderTest::SetUp() {
  ASSERT_TRUE(dir_.isValid());
  QDir(dir_.path()).mkpath(QStringLiteral("out"));
}

void FolderTest::expectFailure(const QString& id, const QVariantMap& parameters,
                               const QStringList& words, CapturingFeedback* feedback) {
  const RunResult r = runAlgorithm(id, parameters, feedback);
  EXPECT_FALSE(r.ok) << id.toStdString() << " should have failed";
  EXPECT_FALSE(r.error.isEmpty());
  std::cout << "[ message  ] " << r.error.toStdString() << std::endl;
  for (const QString& w : words) {
    EXPECT_TRUE(r.error.contains(w, Qt::CaseInsensitive))
        << "message lacks '" << w.toStdString() << "': " << r.error.toStdString();
  }
  EXPECT_TRUE(outputs().isEmpty()) << "left behind: " << outputs().join(", ").toStdString();
}

}  // namespace dequnmix::testing

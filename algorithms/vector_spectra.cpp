#include "algorithms/vector_spectra.h"

#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStringList>

#include <qgsfeature.h>
#include <qgsfeatureiterator.h>
#include <qgsvectorlayer.h>

#include "core/errors.h"
#include "core/io/spectral_metadata.h"

namespace dequnmix::processing {

namespace {

struct Profile {
  std::vector<double> x, y;
  QString xUnit;
};

std::vector<double> numbers(const QVariantList& list, bool& ok) {
  std::vector<double> out;
  for (const QVariant& v : list) {
    bool isNumber = false;
    out.push_back(v.toDouble(&isNumber));
    ok = ok && isNumber;
  }
  return out;
}

// A profile from a field value: a map or JSON object with x / y, a list, or "0.1, 0.2".
bool parseProfile(const QVariant& value, Profile& p) {
  QVariant v = value;
  if (v.type() == QVariant::String || v.type() == QVariant::ByteArray) {
    const QJsonDocument json = QJsonDocument::fromJson(v.toByteArray());
    if (json.isObject())
      v = json.object().toVariantMap();
    else if (json.isArray())
      v = json.array().toVariantList();
  }
  bool ok = true;
  if (v.type() == QVariant::Map) {
    const QVariantMap m = v.toMap();
    if (!m.contains(QStringLiteral("y"))) return false;
    p.y = numbers(m.value(QStringLiteral("y")).toList(), ok);
    p.x = numbers(m.value(QStringLiteral("x")).toList(), ok);
    p.xUnit = m.value(QStringLiteral("xUnit")).toString();
  } else if (v.type() == QVariant::List || v.type() == QVariant::StringList) {
    p.y = numbers(v.toList(), ok);
  } else {
    return false;
  }
  return ok && p.y.size() >= 2 && (p.x.empty() || p.x.size() == p.y.size());
}

struct Fields {
  int name = -1, profile = -1;
};

Fields findFields(QgsVectorLayer& layer, const QgsFeature& first) {
  Fields f;
  const QgsFields fields = layer.fields();
  for (int i = 0; i < fields.count(); ++i) {
    Profile probe;
    if (f.profile < 0 && parseProfile(first.attribute(i), probe))
      f.profile = i;
    else if (fields.at(i).name().compare(QStringLiteral("name"), Qt::CaseInsensitive) == 0)
      f.name = i;
  }
  for (int i = 0; f.name < 0 && i < fields.count(); ++i)
    if (i != f.profile && fields.at(i).type() == QVariant::String) f.name = i;
  return f;
}

}  // namespace

bool isVectorSpectralLibrary(const QString& path) {
  static const QStringList extensions = {"gpkg", "geojson", "json", "sqlite", "shp", "fgb", "gml"};
  return extensions.contains(QFileInfo(path.section('|', 0, 0)).suffix().toLower());
}

dequnmix::EndmemberTable readVectorSpectra(const QString& path) {
  const std::string label = "vector layer '" + path.toStdString() + "'";
  QgsVectorLayer layer(path, QStringLiteral("spectra"), QStringLiteral("ogr"));
  if (!layer.isValid()) throw dequnmix::IoError(label + " cannot be opened as a vector layer");
  QgsFeatureIterator it = layer.getFeatures();
  QgsFeature feature;
  dequnmix::EndmemberTable t;
  std::vector<Profile> profiles;
  Fields fields;
  while (it.nextFeature(feature)) {
    if (profiles.empty()) fields = findFields(layer, feature);
    Profile p;
    if (fields.profile < 0 || !parseProfile(feature.attribute(fields.profile), p))
      throw dequnmix::IoError(label + ": feature " + std::to_string(profiles.size() + 1) +
                              " holds no spectrum (a field with {\"x\": [...], \"y\": [...]} "
                              "or a list of numbers)");
    if (!profiles.empty() && (p.y.size() != profiles[0].y.size() || p.x != profiles[0].x))
      throw dequnmix::IoError(label +
                              ": the spectra have different bands or wavelengths; "
                              "resample them to one set of wavelengths first");
    t.names.push_back(fields.name >= 0 ? feature.attribute(fields.name).toString().toStdString()
                                       : "spectrum_" + std::to_string(profiles.size() + 1));
    profiles.push_back(std::move(p));
  }
  if (profiles.empty()) throw dequnmix::IoError(label + " holds no feature");
  t.bands = int(profiles[0].y.size());
  if (!profiles[0].x.empty())
    t.wavelengths = dequnmix::wavelengthsToNm(profiles[0].x, profiles[0].xUnit.toStdString());
  for (int b = 0; b < t.bands; ++b)
    for (const Profile& p : profiles) t.values.push_back(float(p.y[size_t(b)]));
  return t;
}

}  // namespace dequnmix::processing

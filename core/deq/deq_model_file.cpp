// DEQ-Unmix model file (plain C++, no LibTorch).
//
// Frame (little-endian), the same in every version:
//   8 bytes   magic "DEQUNMIX"
//   uint32    format version (kFormatVersion; this build also reads versions 1 to 3)
//   uint64    payload size in bytes
//   payload
//   uint32    CRC-32 (IEEE 802.3, as zlib) of the payload
// Payload of version 4 (every vector and string length-prefixed):
//   header    uint64 count, then per field: name, uint8 type (1 integer int64, 2 real
//             float64, 3 text), value. The fields are modelFields(): the model's scalars,
//             every DeqNetworkOptions field, the inference solver ("inference_solver.*") and
//             the training summary ("summary.*"); enum and registry names as text.
//   data      band subset, wavelengths, endmember tables (final, initial), tensors (name,
//             shape, float32 values: network weights, "eta", the superpixel feature
//             transform), training record (describeOptions pairs), loss history.
// Version 1 stored the settings in a fixed order with codes (solver 0 anderson, 1 picard;
// network input 0 residual, 1 projected) and the spatial prox as one-value tensors
// ("spatial_weight", "spatial_prox" 0/1, "superpixel_size"); its reader maps them to the
// same fields. Both go through one decoder of the settings: DeqSolverOptions::validate and
// DeqNetworkOptions::validate, reported as ModelCorruptError naming the field.
// Version 2 is version 3 without "anchor_weight" and "scale_invariant" (the map had no anchor
// term and the linear data term: weight 0, off); version 3 is version 4 without
// "band_weights" (the noise whitening's per-band factors as text, "" = not whitened).
// A header field this build does not know is refused (ModelVersionError): any field may
// change the computation, so skipping one could silently unmix differently; a writer that
// adds a field raises the format version.
// The reader checks the magic, the version, the size against the file length, the
// checksum, then every length against the bytes left and the content for consistency,
// so arbitrary bytes give a ModelFileError, never a crash or a huge allocation.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <locale>
#include <set>
#include <sstream>

#include "core/deq/deq_unmix.h"
#include "core/deq/option_fields.h"
#include "core/errors.h"
#include "core/io/atomic_file.h"

namespace dequnmix {

namespace {

constexpr char kMagic[8] = {'D', 'E', 'Q', 'U', 'N', 'M', 'I', 'X'};
constexpr uint32_t kFormatVersion = 4;
constexpr size_t kHeaderSize = 8 + 4 + 8;

uint32_t crc32(const uint8_t* data, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

class Writer {
 public:
  std::vector<uint8_t> bytes;
  template <typename T>
  void raw(T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    bytes.insert(bytes.end(), b, b + sizeof(T));
  }
  void u8(uint8_t v) { raw(v); }
  void u32(uint32_t v) { raw(v); }
  void i32(int32_t v) { raw(v); }
  void u64(uint64_t v) { raw(v); }
  void i64(int64_t v) { raw(v); }
  void f64(double v) { raw(v); }
  void str(const std::string& s) {
    u64(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  void floats(const std::vector<float>& v) {
    u64(v.size());
    for (float x : v) raw(x);
  }
  void doubles(const std::vector<double>& v) {
    u64(v.size());
    for (double x : v) raw(x);
  }
  void ints(const std::vector<int>& v) {
    u64(v.size());
    for (int x : v) i32(x);
  }
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  template <typename T>
  T raw() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  uint8_t u8() { return raw<uint8_t>(); }
  uint32_t u32() { return raw<uint32_t>(); }
  int32_t i32() { return raw<int32_t>(); }
  uint64_t u64() { return raw<uint64_t>(); }
  int64_t i64() { return raw<int64_t>(); }
  double f64() { return raw<double>(); }
  uint64_t count(size_t elementSize) {
    const uint64_t n = u64();
    if (n > (size_ - pos_) / elementSize) corrupt("a length exceeds the file");
    return n;
  }
  std::string str() {
    const uint64_t n = count(1);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  std::vector<float> floats() {
    std::vector<float> v(count(4));
    for (float& x : v) x = raw<float>();
    return v;
  }
  std::vector<double> doubles() {
    std::vector<double> v(count(8));
    for (double& x : v) x = raw<double>();
    return v;
  }
  std::vector<int> ints() {
    std::vector<int> v(count(4));
    for (int& x : v) x = i32();
    return v;
  }
  bool atEnd() const { return pos_ == size_; }
  [[noreturn]] static void corrupt(const std::string& what) {
    throw ModelCorruptError("DEQ-Unmix model file is corrupt: " + what);
  }

 private:
  void need(size_t n) {
    if (n > size_ - pos_) corrupt("a field runs past the end of the payload");
  }
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

void writeTable(Writer& w, const EndmemberTable& t) {
  w.u64(t.names.size());
  for (const auto& n : t.names) w.str(n);
  w.doubles(t.wavelengths);
  w.i32(t.bands);
  w.floats(t.values);
}

EndmemberTable readTable(Reader& r) {
  EndmemberTable t;
  const uint64_t n = r.count(8);
  for (uint64_t i = 0; i < n; ++i) t.names.push_back(r.str());
  t.wavelengths = r.doubles();
  t.bands = r.i32();
  t.values = r.floats();
  if (t.bands < 1 || t.names.empty() ||
      t.values.size() != static_cast<size_t>(t.bands) * t.names.size())
    Reader::corrupt("endmember table sizes disagree");
  for (float v : t.values)
    if (!std::isfinite(v)) Reader::corrupt("endmember values are not finite");
  return t;
}

[[noreturn]] void outOfRange(const std::string& what) {
  Reader::corrupt("stored setting out of range: " + what);
}

void writeTensors(Writer& w, const std::vector<DeqTensor>& tensors) {
  w.u64(tensors.size());
  for (const DeqTensor& t : tensors) {
    w.str(t.name);
    w.u64(t.shape.size());
    for (int64_t s : t.shape) w.i64(s);
    w.floats(t.values);
  }
}

std::vector<DeqTensor> readTensors(Reader& r) {
  std::vector<DeqTensor> tensors(r.count(24));
  for (DeqTensor& t : tensors) {
    t.name = r.str();
    const uint64_t dims = r.count(8);
    int64_t numel = 1;
    for (uint64_t d = 0; d < dims; ++d) {
      const int64_t s = r.i64();
      if (s < 0 || s > (int64_t(1) << 31)) Reader::corrupt("tensor shape out of range");
      t.shape.push_back(s);
      numel *= s;
      if (numel > (int64_t(1) << 32)) Reader::corrupt("tensor too large");
    }
    t.values = r.floats();
    if (static_cast<int64_t>(t.values.size()) != numel)
      Reader::corrupt("tensor '" + t.name + "' has the wrong number of values");
  }
  return tensors;
}

void writeRecord(Writer& w, const std::vector<std::pair<std::string, std::string>>& record) {
  w.u64(record.size());
  for (const auto& kv : record) {
    w.str(kv.first);
    w.str(kv.second);
  }
}

std::vector<std::pair<std::string, std::string>> readRecord(Reader& r) {
  std::vector<std::pair<std::string, std::string>> record(r.count(16));
  for (auto& kv : record) {
    kv.first = r.str();
    kv.second = r.str();
  }
  return record;
}

// ------------------------------------------------------------------------ versions 2 to 4

template <class T>
void append(OptionFields<T>& to, const OptionFields<T>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

// The band weights as text: one number per band, exactly (17 digits), separated by spaces.
OptionField<DeqModel> bandWeightsField() {
  return {"band_weights", FieldValue::Text,
          [](const DeqModel& m) {
            std::ostringstream s;
            s.precision(17);
            for (size_t b = 0; b < m.bandWeights.size(); ++b)
              s << (b ? " " : "") << m.bandWeights[b];
            return FieldValue::ofText(s.str());
          },
          [](DeqModel& m, const FieldValue& v) {
            requireType(v, FieldValue::Text);
            std::istringstream s(v.text);
            s.imbue(std::locale::classic());
            m.bandWeights.clear();
            double w;
            while (s >> w) m.bandWeights.push_back(w);
            if (!s.eof()) throw InvalidArgument("not a list of numbers");
          }};
}

// The header fields of version 4.
const OptionFields<DeqModel>& modelFields() {
  static const OptionFields<DeqModel> fields = [] {
    OptionFields<DeqModel> f = {integerField("bands", &DeqModel::bands),
                                integerField("source_bands", &DeqModel::sourceBands),
                                realField("input_scale", &DeqModel::inputScale),
                                bandWeightsField(),
                                textField("torch_version", &DeqModel::torchVersion),
                                textField("core_version", &DeqModel::coreVersion)};
    append(f, nestedFields("", &DeqModel::network, networkFields()));
    append(f, nestedFields("inference_solver.", &DeqModel::solver, solverFields()));
    append(f, nestedFields("summary.", &DeqModel::summary, summaryFields()));
    return f;
  }();
  return fields;
}

void writeHeader(Writer& w, const DeqModel& m) {
  w.u64(modelFields().size());
  for (const OptionField<DeqModel>& f : modelFields()) {
    const FieldValue v = f.get(m);
    w.str(f.name);
    w.u8(v.type);
    if (v.type == FieldValue::Integer) w.i64(v.integer);
    if (v.type == FieldValue::Real) w.f64(v.real);
    if (v.type == FieldValue::Text) w.str(v.text);
  }
}

FieldValue readFieldValue(Reader& r, const std::string& name) {
  FieldValue v;
  const uint8_t type = r.u8();
  v.type = static_cast<FieldValue::Type>(type);
  if (v.type == FieldValue::Integer)
    v.integer = r.i64();
  else if (v.type == FieldValue::Real)
    v.real = r.f64();
  else if (v.type == FieldValue::Text)
    v.text = r.str();
  else
    Reader::corrupt("field '" + name + "' has the unknown type " + std::to_string(type));
  return v;
}

const OptionField<DeqModel>* findField(const std::string& name) {
  for (const OptionField<DeqModel>& f : modelFields())
    if (f.name == name) return &f;
  return nullptr;
}

void readHeader(Reader& r, uint32_t version, DeqModel& m) {
  std::set<std::string> seen;
  if (version == 2) {  // the fields that came with version 3
    m.network.anchorWeight = 0;
    m.network.scaleInvariance = ScaleInvariance::Off;
    seen.insert({"anchor_weight", "scale_invariant"});
  }
  if (version <= 3) seen.insert("band_weights");  // not whitened
  const uint64_t n = r.count(10);  // at least a name length, a type and one value byte
  for (uint64_t i = 0; i < n; ++i) {
    const std::string name = r.str();
    const FieldValue value = readFieldValue(r, name);
    const OptionField<DeqModel>* field = findField(name);
    if (!field)
      throw ModelVersionError("DEQ-Unmix model file has a field '" + name +
                              "' this build does not know: it was made by a newer deq-unmix; "
                              "update the DEQ-Unmix plugin to use this model");
    if (!seen.insert(name).second) Reader::corrupt("field '" + name + "' is stored twice");
    try {
      field->set(m, value);
    } catch (const InvalidArgument& e) {
      Reader::corrupt("field '" + name + "': " + e.what());
    }
  }
  for (const OptionField<DeqModel>& f : modelFields())
    if (!seen.count(f.name)) Reader::corrupt("field '" + f.name + "' is missing");
}

void writePayload(Writer& w, const DeqModel& m) {
  writeHeader(w, m);
  w.ints(m.bandSubset);
  w.doubles(m.wavelengths);
  writeTable(w, m.endmembers);
  writeTable(w, m.initialEndmembers);
  writeTensors(w, m.weights);
  writeRecord(w, m.hyperparameters);
  w.doubles(m.lossHistory);
}

DeqModel readPayload(Reader& r, uint32_t version) {
  DeqModel m;
  readHeader(r, version, m);
  m.bandSubset = r.ints();
  m.wavelengths = r.doubles();
  m.endmembers = readTable(r);
  m.initialEndmembers = readTable(r);
  m.weights = readTensors(r);
  m.hyperparameters = readRecord(r);
  m.lossHistory = r.doubles();
  return m;
}

// ---------------------------------------------------------------------------- version 1

DeqSolverOptions readSolverV1(Reader& r) {
  DeqSolverOptions o;
  const int kind = r.i32();
  if (kind < 0 || kind > 1) Reader::corrupt("unknown solver kind");
  o.kind = kind == 1 ? "picard" : "anderson";
  o.maxIterations = r.i32();
  o.tolerance = r.f64();
  o.history = r.i32();
  o.regularization = r.f64();
  o.damping = r.f64();
  return o;
}

// Moves the spatial prox settings, one-value tensors in version 1, into the options.
void takeSpatialSettingsV1(DeqModel& m) {
  // No "spatial_weight" tensor (files from before the prox, or weight 0) is the plain
  // projection, whatever DeqNetworkOptions' default weight for new training is.
  m.network.spatialWeight = 0;
  std::vector<DeqTensor> network;
  for (DeqTensor& t : m.weights) {
    if (t.name != "spatial_weight" && t.name != "spatial_prox" && t.name != "superpixel_size") {
      network.push_back(std::move(t));
      continue;
    }
    if (t.values.size() != 1) Reader::corrupt("tensor '" + t.name + "' must hold one value");
    const float v = t.values[0];
    if (t.name == "spatial_weight") m.network.spatialWeight = v;
    if (t.name == "spatial_prox" && v != 0 && v != 1)
      outOfRange("field 'spatial_prox' must be 0 (neighbourhood) or 1 (superpixel)");
    if (t.name == "spatial_prox") m.network.spatialProx = v == 1 ? "superpixel" : "neighbourhood";
    // An integer before the conversion; the bounds are validate()'s.
    if (t.name == "superpixel_size" && !(v == std::floor(v) && std::fabs(v) <= 1e6))
      outOfRange("field 'superpixel_size' is " + messageNumber(v) + ", not an integer");
    if (t.name == "superpixel_size") m.network.superpixelSize = static_cast<int>(v);
  }
  m.weights = std::move(network);
}

void readSummaryV1(Reader& r, DeqTrainSummary& s) {
  s.epochs = r.i32();
  s.finalLoss = r.f64();
  s.trainingSeconds = r.f64();
  s.meanForwardIterations = r.f64();
  s.convergedFraction = r.f64();
  s.supervised = r.i32() != 0;
  s.tiled = r.i32() != 0;
}

DeqModel readPayloadV1(Reader& r) {
  DeqModel m;
  m.bands = r.i32();
  m.sourceBands = r.i32();
  m.bandSubset = r.ints();
  m.wavelengths = r.doubles();
  m.endmembers = readTable(r);
  m.initialEndmembers = readTable(r);
  m.inputScale = r.f64();
  m.network.hiddenChannels = r.i32();
  m.network.hiddenLayers = r.i32();
  const int input = r.i32();
  if (input < 0 || input > 1) Reader::corrupt("unknown network input");
  m.network.input = input == 1 ? DeqNetworkInput::ProjectedResidualAndAbundances
                               : DeqNetworkInput::ResidualAndAbundances;
  m.network.initialStep = r.f64();
  m.network.anchorWeight = 0;
  m.network.scaleInvariance = ScaleInvariance::Off;
  m.solver = readSolverV1(r);
  m.weights = readTensors(r);
  takeSpatialSettingsV1(m);
  m.hyperparameters = readRecord(r);
  readSummaryV1(r, m.summary);
  m.lossHistory = r.doubles();
  m.torchVersion = r.str();
  m.coreVersion = r.str();
  return m;
}

// ---------------------------------------------------------------------------- checks

// The one set of bounds, validate()'s, naming the field at fault.
template <class Options>
void validateStored(const Options& options, const OptionFields<Options>& fields,
                    const std::string& prefix, const std::string& what) {
  try {
    options.validate(what);
  } catch (const InvalidArgument& e) {
    // The first field whose stored value alone breaks validate() is the one to name.
    for (const OptionField<Options>& f : fields) {
      Options probe;
      f.set(probe, f.get(options));
      try {
        probe.validate(what);
      } catch (const InvalidArgument&) {
        outOfRange("field '" + prefix + f.name + "': " + e.what());
      }
    }
    outOfRange(e.what());
  }
}

// Bounds of every stored setting that drives the computation, so that a crafted file
// cannot run without bound or produce non-finite values.
void checkStoredSettings(const DeqModel& m) {
  validateStored(m.solver, solverFields(), "inference_solver.", "inference solver");
  validateStored(m.network, networkFields(), "", "network");
  for (const DeqTensor& t : m.weights)
    for (float v : t.values)
      if (!std::isfinite(v)) outOfRange("tensor '" + t.name + "' is not finite");
  for (const DeqTensor& t : m.weights)
    // softplus(eta) is the step in units of 1 / ||E||^2: beyond 100 no map converges.
    if (t.name == "eta" && !(t.values.size() == 1 && std::fabs(t.values[0]) <= 100))
      outOfRange("tensor 'eta' must be one value in [-100, 100]");
  if (m.sourceBands < 0 || m.sourceBands > 100000) outOfRange("source band count");
  for (double w : m.wavelengths)
    if (!std::isfinite(w)) outOfRange("a wavelength is not finite");
  // Whitening weights lie in (0, 3] (noiseWhitening); far beyond, float32 loses the data.
  for (double w : m.bandWeights)
    if (!(w >= 1e-6 && w <= 1e6)) outOfRange("a band weight is outside 1e-6..1e6");
  // The network sees data x inputScale (1 / RMS of the training scene), in float32: the
  // scaled endmembers are of order 1 in every trained model.
  float largest = 0;
  for (float v : m.endmembers.values) largest = std::max(largest, std::fabs(v));
  const double scaled = largest * m.inputScale;
  if (!(m.inputScale > 0) || !(scaled >= 1e-6 && scaled <= 1e6))
    outOfRange("input scale " + messageNumber(m.inputScale) +
               " does not fit the endmembers (largest scaled value " + messageNumber(scaled) +
               ", expected 1e-6..1e6)");
}

void checkConsistency(const DeqModel& m) {
  if (m.bands < 1 || m.bands > 100000) Reader::corrupt("band count out of range");
  if (m.endmembers.bands != m.bands || m.initialEndmembers.bands != m.bands ||
      m.initialEndmembers.endmembers() != m.endmembers.endmembers())
    Reader::corrupt("endmember tables do not match the band count");
  if (m.endmembers.endmembers() < 2) Reader::corrupt("fewer than two endmembers");
  if (!m.bandSubset.empty()) {
    if (static_cast<int>(m.bandSubset.size()) != m.bands || m.sourceBands < m.bands)
      Reader::corrupt("band subset does not match the band count");
    for (int b : m.bandSubset)
      if (b < 1 || b > m.sourceBands) Reader::corrupt("band subset out of range");
  }
  if (!m.wavelengths.empty() && static_cast<int>(m.wavelengths.size()) != m.bands)
    Reader::corrupt("wavelength count does not match the band count");
  if (!m.bandWeights.empty() && static_cast<int>(m.bandWeights.size()) != m.bands)
    Reader::corrupt("band weight count does not match the band count");
  checkStoredSettings(m);
}

// The frame: magic, version, size and checksum. Returns the format version and the payload.
uint32_t checkFrame(const std::vector<uint8_t>& bytes, const uint8_t*& payload, size_t& size) {
  const size_t n = bytes.size();
  if (n == 0 || std::memcmp(bytes.data(), kMagic, std::min<size_t>(n, 8)) != 0)
    throw ModelFormatError("not a DEQ-Unmix model file (wrong magic bytes)");
  if (n < kHeaderSize) throw ModelTruncatedError("DEQ-Unmix model file is truncated (header)");
  uint32_t version;
  std::memcpy(&version, bytes.data() + 8, 4);
  if (version > kFormatVersion)
    throw ModelVersionError("DEQ-Unmix model file format version " + std::to_string(version) +
                            " was made by a newer deq-unmix (this build reads versions 1 to " +
                            std::to_string(kFormatVersion) +
                            "): update the DEQ-Unmix plugin to use this model");
  if (version < 1) throw ModelVersionError("DEQ-Unmix model file format version 0 does not exist");
  uint64_t declared;
  std::memcpy(&declared, bytes.data() + 12, 8);
  if (declared > n || n - kHeaderSize < declared + 4) {
    throw ModelTruncatedError(
        "DEQ-Unmix model file is truncated: " + std::to_string(n) + " bytes, the header declares " +
        (declared > n ? std::string("more") : std::to_string(kHeaderSize + declared + 4)));
  }
  if (n - kHeaderSize != declared + 4)
    Reader::corrupt("the file is longer than its header declares");
  payload = bytes.data() + kHeaderSize;
  size = declared;
  uint32_t stored;
  std::memcpy(&stored, payload + size, 4);
  if (crc32(payload, size) != stored) Reader::corrupt("checksum mismatch");
  return version;
}

}  // namespace

void checkModelBands(const DeqModel& model, int rasterBands) {
  const int expected = model.bandSubset.empty() ? model.bands : model.sourceBands;
  if (rasterBands != expected) {
    throw BandMismatchError("the raster has " + std::to_string(rasterBands) +
                            " bands but the DEQ-Unmix model was trained on a raster with " +
                            std::to_string(expected) +
                            " bands: use a scene with the same bands as the training scene");
  }
  for (int b : model.bandSubset)
    if (b < 1 || b > rasterBands)
      throw BandMismatchError("the model's band subset names band " + std::to_string(b) +
                              ", which the raster does not have");
}

// Writes what it is given: the reader is where settings are checked.
std::vector<uint8_t> serializeDeqModel(const DeqModel& m) {
  Writer w;
  writePayload(w, m);
  Writer file;
  file.bytes.insert(file.bytes.end(), kMagic, kMagic + 8);
  file.u32(kFormatVersion);
  file.u64(w.bytes.size());
  file.bytes.insert(file.bytes.end(), w.bytes.begin(), w.bytes.end());
  file.u32(crc32(w.bytes.data(), w.bytes.size()));
  return file.bytes;
}

DeqModel deserializeDeqModel(const std::vector<uint8_t>& bytes) {
  const uint8_t* payload = nullptr;
  size_t size = 0;
  const uint32_t version = checkFrame(bytes, payload, size);
  Reader r(payload, size);
  DeqModel m = version == 1 ? readPayloadV1(r) : readPayload(r, version);
  if (!r.atEnd()) Reader::corrupt("unexpected bytes after the last field");
  checkConsistency(m);
  return m;
}

void saveDeqModel(const std::string& path, const DeqModel& model) {
  writeFileAtomically(path, "the model file", serializeDeqModel(model));
}

DeqModel loadDeqModel(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open the model file '" + path + "'");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  try {
    return deserializeDeqModel(bytes);
  } catch (const ModelFileError& e) {
    // Re-throw the same type with the path in the message.
    const std::string msg = std::string(e.what()) + " ('" + path + "')";
    if (dynamic_cast<const ModelFormatError*>(&e)) throw ModelFormatError(msg);
    if (dynamic_cast<const ModelVersionError*>(&e)) throw ModelVersionError(msg);
    if (dynamic_cast<const ModelTruncatedError*>(&e)) throw ModelTruncatedError(msg);
    throw ModelCorruptError(msg);
  }
}

}  // namespace dequnmix

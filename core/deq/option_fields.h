// One field list per options struct: the name each setting has in the model file, the
// training record and the report, with a typed getter and setter. describeOptions() and the
// model file's header are generated from these lists, so a new setting is one line here.
#pragma once

#include <climits>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/deq/deq_unmix.h"

namespace dequnmix {

// A setting's value as the model file stores it: names (enums, registered solvers and
// proxes) as text, counts as integers, the rest as exact doubles.
struct FieldValue {
  enum Type : uint8_t { Integer = 1, Real = 2, Text = 3 };
  Type type = Text;
  int64_t integer = 0;
  double real = 0;
  std::string text;

  static FieldValue ofInteger(int64_t v) { return {Integer, v, 0, {}}; }
  static FieldValue ofReal(double v) { return {Real, 0, v, {}}; }
  static FieldValue ofText(std::string v) { return {Text, 0, 0, std::move(v)}; }
  std::string str() const;  // as the training record and the report show it
};

template <class Options>
struct OptionField {
  std::string name;
  FieldValue::Type type;
  std::function<FieldValue(const Options&)> get;
  // Throws InvalidArgument for a value of another type, an unknown enum name or an integer
  // beyond the member's type; the bounds are the struct's validate().
  std::function<void(Options&, const FieldValue&)> set;
};

template <class Options>
using OptionFields = std::vector<OptionField<Options>>;

const OptionFields<DeqSolverOptions>& solverFields();
const OptionFields<DeqNetworkOptions>& networkFields();
// The scalar fields; the nested network and solver options are the lists above.
const OptionFields<DeqTrainOptions>& trainFields();
const OptionFields<DeqInferOptions>& inferenceFields();
const OptionFields<DeqTrainSummary>& summaryFields();

// Throw InvalidArgument unless `value` has `type` (and lies in low..high, is true or false);
// the model reader prefixes the field's name.
void requireType(const FieldValue& value, FieldValue::Type type);
int64_t integerIn(const FieldValue& value, int64_t low, int64_t high);
bool parseFlag(const FieldValue& value);

// Field makers over a member pointer.
template <class O>
OptionField<O> integerField(const std::string& name, int O::*member) {
  return {name, FieldValue::Integer,
          [member](const O& o) { return FieldValue::ofInteger(o.*member); },
          [member](O& o, const FieldValue& v) {
            o.*member = static_cast<int>(integerIn(v, INT_MIN, INT_MAX));
          }};
}
template <class O>
OptionField<O> realField(const std::string& name, double O::*member) {
  return {name, FieldValue::Real, [member](const O& o) { return FieldValue::ofReal(o.*member); },
          [member](O& o, const FieldValue& v) {
            requireType(v, FieldValue::Real);
            o.*member = v.real;
          }};
}
template <class O>
OptionField<O> textField(const std::string& name, std::string O::*member) {
  return {name, FieldValue::Text, [member](const O& o) { return FieldValue::ofText(o.*member); },
          [member](O& o, const FieldValue& v) {
            requireType(v, FieldValue::Text);
            o.*member = v.text;
          }};
}
// Stored and shown as true or false.
template <class O>
OptionField<O> flagField(const std::string& name, bool O::*member) {
  return {name, FieldValue::Text,
          [member](const O& o) { return FieldValue::ofText(o.*member ? "true" : "false"); },
          [member](O& o, const FieldValue& v) { o.*member = parseFlag(v); }};
}
template <class O, class Enum>
OptionField<O> enumField(const std::string& name, Enum O::*member) {
  return {name, FieldValue::Text,
          [member](const O& o) { return FieldValue::ofText(toString(o.*member)); },
          [member](O& o, const FieldValue& v) {
            requireType(v, FieldValue::Text);
            o.*member = parseEnum<Enum>(v.text);
          }};
}
// The fields of a nested options struct, their names prefixed.
template <class O, class Sub>
OptionFields<O> nestedFields(const std::string& prefix, Sub O::*member,
                             const OptionFields<Sub>& fields) {
  OptionFields<O> out;
  for (const OptionField<Sub>& f : fields)
    out.push_back({prefix + f.name, f.type, [member, f](const O& o) { return f.get(o.*member); },
                   [member, f](O& o, const FieldValue& v) { f.set(o.*member, v); }});
  return out;
}

}  // namespace dequnmix

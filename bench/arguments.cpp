#include "bench/arguments.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <utility>

namespace dequnmix::bench {

namespace {

[[noreturn]] void badValue(const std::string& name, const std::string& text, const char* what) {
  throw ArgumentError(name + ": '" + text + "' is not " + what);
}

std::string show(int v) { return std::to_string(v); }
std::string show(uint64_t v) { return std::to_string(v); }
std::string show(const std::string& v) { return v; }

std::string show(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

std::string show(const std::vector<int>& v) {
  std::string text;
  for (size_t i = 0; i < v.size(); ++i) text += (i ? "," : "") + std::to_string(v[i]);
  return text;
}

template <class T>
T parseAs(const std::string& name, const std::string& text);
template <>
int parseAs<int>(const std::string& name, const std::string& text) {
  return parseInt(name, text);
}
template <>
uint64_t parseAs<uint64_t>(const std::string& name, const std::string& text) {
  return parseUnsigned(name, text);
}
template <>
double parseAs<double>(const std::string& name, const std::string& text) {
  return parseDouble(name, text);
}
template <>
std::string parseAs<std::string>(const std::string&, const std::string& text) {
  return text;
}
template <>
std::vector<int> parseAs<std::vector<int>>(const std::string& name, const std::string& text) {
  return parseIntList(name, text);
}

// One option of --help: its name and value in a column, then its help; continuation
// lines of a multi-line help line up under the first.
std::string helpRow(const std::string& head, size_t width, std::string line) {
  const std::string indent(width + 4, ' ');
  for (size_t at = line.find('\n'); at != std::string::npos; at = line.find('\n', at + 1))
    line.insert(at + 1, indent);
  return "  " + head + std::string(width - head.size() + 2, ' ') + line + "\n";
}

}  // namespace

// strtol and friends accept "12abc" as 12 and clamp on overflow; a benchmark run with a
// typo would then measure something else, so the whole text must parse and fit.
int parseInt(const std::string& name, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0') badValue(name, text, "an integer");
  if (errno == ERANGE || v < INT_MIN || v > INT_MAX) badValue(name, text, "an int in range");
  return static_cast<int>(v);
}

uint64_t parseUnsigned(const std::string& name, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  // strtoull reads "-1" as 2^64 - 1: refuse the sign rather than wrap.
  if (text.empty() || text[0] == '-' || *end != '\0') badValue(name, text, "an unsigned integer");
  if (errno == ERANGE) badValue(name, text, "an unsigned integer in range");
  return v;
}

// Accepts what strtod does, "inf" included (a noise-free --snr).
double parseDouble(const std::string& name, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') badValue(name, text, "a number");
  return v;
}

std::vector<int> parseIntList(const std::string& name, const std::string& text) {
  std::vector<int> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) values.push_back(parseInt(name, item));
  if (values.empty()) badValue(name, text, "a comma-separated list of integers");
  return values;
}

Arguments::Arguments(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void Arguments::add(Option option) {
  if (find(option.name)) throw std::logic_error("option declared twice: " + option.name);
  options_.push_back(std::move(option));
}

const Arguments::Option* Arguments::find(const std::string& name) const {
  for (const Option& o : options_)
    if (o.name == name) return &o;
  return nullptr;
}

void Arguments::flag(const std::string& name, bool& target, const std::string& help, bool setTo) {
  add({name, "", help, "", [&target, setTo](const std::string&) { target = setTo; }});
}

template <class T>
void Arguments::option(const std::string& name, T& target, const std::string& metavar,
                       const std::string& help, const std::string& shownDefault) {
  auto set = [&target, name](const std::string& text) { target = parseAs<T>(name, text); };
  add({name, metavar, help, shownDefault.empty() ? show(target) : shownDefault, set});
}

template void Arguments::option<int>(const std::string&, int&, const std::string&,
                                     const std::string&, const std::string&);
template void Arguments::option<uint64_t>(const std::string&, uint64_t&, const std::string&,
                                          const std::string&, const std::string&);
template void Arguments::option<double>(const std::string&, double&, const std::string&,
                                        const std::string&, const std::string&);
template void Arguments::option<std::string>(const std::string&, std::string&, const std::string&,
                                             const std::string&, const std::string&);
template void Arguments::option<std::vector<int>>(const std::string&, std::vector<int>&,
                                                  const std::string&, const std::string&,
                                                  const std::string&);

bool Arguments::parse(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string name = argv[i];
    if (name == "--help" || name == "-h") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    const Option* o = find(name);
    if (!o && name.rfind("-", 0) != 0)
      throw ArgumentError("unexpected argument '" + name + "' (see --help)");
    if (!o) throw ArgumentError("unknown option " + name + " (see --help)");
    std::string value;
    if (!o->metavar.empty()) {
      if (i + 1 >= argc) throw ArgumentError(name + " needs a value (" + o->metavar + ")");
      value = argv[++i];
    }
    o->set(value);
    given_.emplace_back(name, value);
  }
  return true;
}

void Arguments::parseOrExit(int argc, const char* const* argv) {
  try {
    if (!parse(argc, argv)) std::exit(0);
  } catch (const ArgumentError& e) {
    std::fprintf(stderr, "%s: %s\n", program_.c_str(), e.what());
    std::exit(2);
  }
}

std::string Arguments::help() const {
  std::vector<std::string> heads;
  size_t width = 10;  // "--help, -h"
  for (const Option& o : options_) {
    heads.push_back(o.name + (o.metavar.empty() ? "" : " " + o.metavar));
    width = std::max(width, heads.back().size());
  }
  std::string text = "Usage: " + program_ + " [options]\n" + summary_ + "\n\nOptions:\n";
  for (size_t k = 0; k < options_.size(); ++k) {
    const Option& o = options_[k];
    std::string line = o.help;
    if (!o.metavar.empty() && !o.shownDefault.empty()) line += " (default " + o.shownDefault + ")";
    text += helpRow(heads[k], width, line);
  }
  return text + helpRow("--help, -h", width, "this text");
}

std::vector<std::string> Arguments::given(const std::vector<std::string>& except) const {
  std::vector<std::string> args;
  for (const auto& [name, value] : given_) {
    if (std::find(except.begin(), except.end(), name) != except.end()) continue;
    args.push_back(name);
    if (!find(name)->metavar.empty()) args.push_back(value);
  }
  return args;
}

}  // namespace dequnmix::bench

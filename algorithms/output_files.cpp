#include "algorithms/output_files.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "core/errors.h"

namespace dequnmix::processing {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPartTag = ".part-";

// Whether the process that left a part file ".<stem>.part-<pid>-..." still runs.
bool partOwnerAlive(const std::string& rest) {
  char* end = nullptr;
  const long pid = std::strtol(rest.c_str(), &end, 10);
  if (end == rest.c_str() || *end != '-' || pid <= 0) return true;  // not ours: keep it
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// Removes the part files of `stem` in `folder` whose writing process has ended (a killed
// run), so they do not accumulate; live writers' files are kept.
void removeStaleParts(const fs::path& folder, const std::string& stem) {
  const std::string prefix = "." + stem + kPartTag;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    if (!partOwnerAlive(name.substr(prefix.size()))) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}

std::string randomHex() {
  std::random_device device;
  std::ostringstream out;
  out << std::hex << device() << device();
  return out.str();
}

fs::path resolved(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return ec ? fs::absolute(path) : p;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

std::string lowerExtension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

// ---------------------------------------------------------------------------- StagedFile

StagedFile::StagedFile(std::string destination) : destination_(std::move(destination)) {
  if (destination_.empty()) throw IoError("No output file name was given.");
  const fs::path target(destination_);
  std::error_code ec;
  if (fs::exists(target, ec) && !fs::is_regular_file(target, ec)) {
    throw IoError("'" + destination_ +
                  "' exists and is not a regular file (a folder, device, pipe or socket); it "
                  "is never replaced. Choose a file path.");
  }
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::is_directory(folder, ec)) {
    fs::create_directories(folder, ec);
    if (!fs::is_directory(folder, ec)) {
      throw IoError("Cannot write '" + destination_ + "': the folder '" + folder.string() +
                    "' does not exist and cannot be created. Choose a writable output path.");
    }
  }
  folder_ = folder.string();
  stem_ = target.stem().string();
  removeStaleParts(folder, stem_);
  partStem_ = "." + stem_ + kPartTag + std::to_string(::getpid()) + "-" + randomHex();
  path_ = (folder / (partStem_ + target.extension().string())).string();
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    const std::string why = std::strerror(errno);
    throw IoError("Cannot write '" + destination_ + "' (" + why +
                  "). Choose an output path in a writable folder.");
  }
  ::close(fd);
}

StagedFile::~StagedFile() {
  if (!committed_) discard();
}

void StagedFile::discard() const {
  std::error_code ec;
  for (fs::directory_iterator it(folder_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind(partStem_, 0) == 0) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}

void StagedFile::commit() {
  if (committed_) return;
  std::error_code ec;
  fs::remove(destination_ + ".aux.xml", ec);  // stale statistics of an older file
  std::vector<fs::path> parts;
  for (fs::directory_iterator it(folder_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind(partStem_, 0) == 0) parts.push_back(it->path());
  }
  for (const fs::path& part : parts) {
    const std::string rest = part.filename().string().substr(partStem_.size());
    fs::rename(part, fs::path(folder_) / (stem_ + rest), ec);
    if (ec) {
      discard();
      throw IoError("Cannot replace '" + destination_ + "' (" + ec.message() +
                    "). Choose another output path.");
    }
  }
  committed_ = true;
}

void writeStagedText(const StagedFile& staged, const std::string& text) {
  std::ofstream out(staged.path(), std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out)
    throw IoError("Writing '" + staged.destination() + "' failed. Check the free disk space.");
}

void writeTextFileAtomically(const std::string& path, const std::string& text) {
  StagedFile staged(path);
  writeStagedText(staged, text);
  staged.commit();
}

// ---------------------------------------------------------------------------- OutputCheck

void OutputCheck::addInput(const std::string& label, const std::vector<std::string>& files) {
  for (const std::string& file : files) {
    std::error_code ec;
    if (!file.empty() && fs::exists(file, ec)) inputs_.push_back({label, file, {}});
  }
}

void OutputCheck::addOutput(const std::string& label, const std::string& path,
                            const std::vector<std::string>& extensions) {
  if (!path.empty()) outputs_.push_back({label, path, extensions});
}

void OutputCheck::check() const {
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const Entry& out = outputs_[i];
    const fs::path target = resolved(out.path);
    for (const Entry& in : inputs_) {
      if (resolved(in.path) == target) {
        throw InvalidArgument(out.label + " ('" + out.path + "') is the file of " + in.label +
                              " ('" + in.path +
                              "'): writing it would destroy the input. "
                              "Choose another output path.");
      }
    }
    for (size_t j = 0; j < i; ++j) {
      if (resolved(outputs_[j].path) == target) {
        throw InvalidArgument(out.label + " and " + outputs_[j].label + " are the same file ('" +
                              out.path + "'). Give each output its own path.");
      }
    }
    std::error_code ec;
    if (fs::exists(target, ec) && !fs::is_regular_file(target, ec)) {
      throw InvalidArgument(out.label + " ('" + out.path +
                            "') exists and is not a regular file (a folder, device, pipe or "
                            "socket); it is never replaced. Choose a file path.");
    }
    const std::string ext = lowerExtension(out.path);
    if (!out.extensions.empty() &&
        std::find(out.extensions.begin(), out.extensions.end(), ext) == out.extensions.end()) {
      throw InvalidArgument(out.label + " ('" + out.path + "') must end in " +
                            joined(out.extensions) + "; this output is written only in that " +
                            "format. Change the file name's extension.");
    }
  }
}

}  // namespace dequnmix::processing

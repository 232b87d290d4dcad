#include "core/io/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/errors.h"

namespace dequnmix {

namespace {

std::string reason() { return errno ? std::string(": ") + std::strerror(errno) : std::string(); }

void writeBytes(const std::string& path, const std::string& what, const char* data, size_t size) {
  replaceFileAtomically(path, what, [&](const std::string& temporary) {
    errno = 0;
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError("cannot write " + what + " '" + path + "'" + reason());
    out.write(data, static_cast<std::streamsize>(size));
    out.flush();
    if (!out) throw IoError("cannot write " + what + " '" + path + "' (disk full?)" + reason());
  });
}

}  // namespace

void replaceFileAtomically(const std::string& path, const std::string& what,
                           const std::function<void(const std::string& temporary)>& write) {
  const std::string temporary = path + ".partial";
  try {
    write(temporary);
  } catch (...) {
    std::remove(temporary.c_str());
    throw;
  }
  errno = 0;
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = reason();
    std::remove(temporary.c_str());
    throw IoError("cannot write " + what + " '" + path + "' (rename failed" + why + ")");
  }
}

void writeFileAtomically(const std::string& path, const std::string& what,
                         const std::vector<uint8_t>& bytes) {
  writeBytes(path, what, reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void writeFileAtomically(const std::string& path, const std::string& what,
                         const std::string& text) {
  writeBytes(path, what, text.data(), text.size());
}

}  // namespace dequnmix

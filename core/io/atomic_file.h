// Files written all or nothing: a reader (or a crash) sees the old file or the complete new
// one, never a half-written one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dequnmix {

// Calls write(temporary) to fill a temporary file in the folder of `path` (so the rename
// stays on one file system, where it is atomic), then renames it over `path`. If write
// throws, its exception passes through; if the rename fails, IoError naming `what` ("the
// model file") and the path. The temporary is removed on every failure.
void replaceFileAtomically(const std::string& path, const std::string& what,
                           const std::function<void(const std::string& temporary)>& write);

// The same for bytes in memory: IoError when they cannot all be written (disk full).
void writeFileAtomically(const std::string& path, const std::string& what,
                         const std::vector<uint8_t>& bytes);
void writeFileAtomically(const std::string& path, const std::string& what, const std::string& text);

}  // namespace dequnmix

// The atomic-write helper: the whole file or the old one, and no temporary left behind.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "core/io/atomic_file.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

namespace fs = std::filesystem;

std::string contents(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t entries(const fs::path& dir) {
  return size_t(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

TEST(AtomicFile, ReplacesTheFileAndLeavesNoTemporary) {
  const fs::path dir = fs::path(::testing::TempDir()) / "atomic_file_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path path = dir / "out.bin";
  writeFileAtomically(path.string(), "the test file", std::vector<uint8_t>{1, 2, 3});
  EXPECT_EQ(contents(path), std::string("\x01\x02\x03", 3));
  writeFileAtomically(path.string(), "the test file", std::string("replaced"));
  EXPECT_EQ(contents(path), "replaced");
  EXPECT_EQ(entries(dir), 1u);

  // A writer that fails keeps the old file and removes its temporary.
  EXPECT_THROW(replaceFileAtomically(path.string(), "the test file",
                                     [](const std::string& temporary) {
                                       std::ofstream(temporary) << "half";
                                       throw IoError("disk full");
                                     }),
               IoError);
  EXPECT_EQ(contents(path), "replaced");
  EXPECT_EQ(entries(dir), 1u);

  // A folder that does not exist: IoError naming what and where.
  const std::string missing = (dir / "no_such_folder" / "out.bin").string();
  test::expectThrowWith<IoError>(
      [&] { writeFileAtomically(missing, "the test file", std::string("x")); },
      {"cannot write the test file", missing});
  // Renaming over a folder fails after the temporary was written: it is removed too.
  fs::create_directories(dir / "folder");
  test::expectThrowWith<IoError>(
      [&] { writeFileAtomically((dir / "folder").string(), "the test file", std::string("x")); },
      {"rename failed"});
  EXPECT_EQ(entries(dir), 2u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dequnmix

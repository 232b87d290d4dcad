#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "core/io/endmember_table.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

namespace fs = std::filesystem;

class EndmemberCsv : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("dequnmix_csv_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  fs::path dir_;
};

TEST_F(EndmemberCsv, ReadsTheDesignFormat) {
  const std::string path = write("a.csv",
                                 "band,wavelength_nm,rock,tree,water\r\n"
                                 "1,401.00,0.10132159,0.01052632,0.16961617\r\n"
                                 "2,404.15, 0.2 ,1e-3,-0.5\r\n"
                                 "\r\n");
  const EndmemberTable t = readEndmemberCsv(path);
  EXPECT_EQ(t.names, (std::vector<std::string>{"rock", "tree", "water"}));
  EXPECT_EQ(t.bands, 2);
  EXPECT_EQ(t.endmembers(), 3);
  EXPECT_EQ(t.wavelengths, (std::vector<double>{401.0, 404.15}));
  EXPECT_EQ(t.at(0, 0), 0.10132159f);
  EXPECT_EQ(t.at(1, 1), 1e-3f);
  EXPECT_EQ(t.at(1, 2), -0.5f);
  // Without wavelengths, columns in any order, quoted names.
  const EndmemberTable u = readEndmemberCsv(write("b.csv", "\"soil, dry\",BAND\n3,1\n4,2\n"));
  EXPECT_EQ(u.names, (std::vector<std::string>{"soil, dry"}));
  EXPECT_TRUE(u.wavelengths.empty());
  EXPECT_EQ(u.values, (std::vector<float>{3, 4}));
}

TEST_F(EndmemberCsv, ReadsTheSamsonReferenceWhenPresent) {
  const std::string path =
      std::string(DEQUNMIX_SHARED_DIR) + "/data/samson/samson_endmembers_gt.csv";
  if (!fs::exists(path)) GTEST_SKIP() << "Samson data not present";
  const EndmemberTable t = readEndmemberCsv(path);
  EXPECT_EQ(t.names, (std::vector<std::string>{"rock", "tree", "water"}));
  EXPECT_EQ(t.bands, 156);
  EXPECT_EQ(t.wavelengths.size(), 156u);
}

TEST_F(EndmemberCsv, RoundTripIsExact) {
  test::Fixtures fx(31);
  EndmemberTable t;
  t.names = {"a", "b b", "c,\"quoted\""};
  t.bands = 17;
  for (int b = 0; b < t.bands; ++b) t.wavelengths.push_back(400 + 2100.0 * b / 16);
  for (int i = 0; i < t.bands * 3; ++i)
    t.values.push_back(static_cast<float>(fx.normal() * std::pow(10.0, fx.integer(-8, 6))));
  const std::string path = (dir_ / "out.csv").string();
  writeEndmemberCsv(path, t);
  const EndmemberTable r = readEndmemberCsv(path);
  EXPECT_EQ(r.names, t.names);
  EXPECT_EQ(r.bands, t.bands);
  EXPECT_EQ(r.wavelengths, t.wavelengths);
  EXPECT_EQ(r.values, t.values);  // bit for bit
  // Nothing but the file itself is left in the folder (the temporary was renamed).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
  // Without wavelengths there is no wavelength column.
  t.wavelengths.clear();
  writeEndmemberCsv(path, t);
  std::ifstream in(path);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "band,a,b b,\"c,\"\"quoted\"\"\"");
  EXPECT_EQ(readEndmemberCsv(path).values, t.values);
}

TEST_F(EndmemberCsv, ErrorsNameFileLineAndProblem) {
  using test::expectThrowWith;
  const std::string missing = (dir_ / "missing.csv").string();
  expectThrowWith<IoError>([&] { readEndmemberCsv(missing); }, {missing, "cannot open"});
  const std::string empty = write("empty.csv", "\n\n");
  expectThrowWith<IoError>([&] { readEndmemberCsv(empty); }, {empty, "empty"});
  const std::string nonNumeric = write("nn.csv", "band,a,b\n1,0.1,0.2\n2,0.3,abc\n");
  expectThrowWith<IoError>([&] { readEndmemberCsv(nonNumeric); },
                           {nonNumeric, "line 3", "'abc'", "endmember 'b'", "not a finite number"});
  const std::string nanCell = write("nan.csv", "band,a\n1,nan\n");
  expectThrowWith<IoError>([&] { readEndmemberCsv(nanCell); }, {"line 2", "'nan'"});
  const std::string emptyCell = write("ec.csv", "band,a,b\n1,0.1,\n");
  expectThrowWith<IoError>([&] { readEndmemberCsv(emptyCell); }, {"line 2", "''"});
  const std::string ragged = write("r.csv", "band,a,b\n1,0.1,0.2\n2,0.3\n");
  expectThrowWith<IoError>([&] { readEndmemberCsv(ragged); },
                           {ragged, "line 3", "ragged", "2 cells", "3"});
  const std::string noEndmember = write("ne.csv", "band,wavelength\n1,400\n");
  expectThrowWith<IoError>([&] { readEndmemberCsv(noEndmember); },
                           {noEndmember, "line 1", "no endmember column"});
  const std::string noBand = write("nb.csv", "a,b\n0.1,0.2\n");
  expectThrowWith<IoError>([&] { readEndmemberCsv(noBand); }, {"line 1", "no 'band' column"});
  const std::string skipped = write("s.csv", "band,a\n1,0.1\n3,0.2\n");
  expectThrowWith<IoError>([&] { readEndmemberCsv(skipped); },
                           {skipped, "line 3", "band number 3", "2 was expected"});
  const std::string zeroBased = write("z.csv", "band,a\n0,0.1\n1,0.2\n");
  expectThrowWith<IoError>([&] { readEndmemberCsv(zeroBased); }, {"line 2", "band number 0"});
  const std::string fractional = write("f.csv", "band,a\n1.5,0.1\n");
  expectThrowWith<IoError>([&] { readEndmemberCsv(fractional); }, {"line 2", "band number 1.5"});
  const std::string headerOnly = write("h.csv", "band,a\n");
  expectThrowWith<IoError>([&] { readEndmemberCsv(headerOnly); }, {"no band rows"});
  const std::string duplicate = write("d.csv", "band,a,a\n1,0.1,0.2\n");
  expectThrowWith<IoError>([&] { readEndmemberCsv(duplicate); }, {"'a'", "unique"});
}

TEST_F(EndmemberCsv, LineNumbersCountBlankLines) {
  // Blank lines before the header and between rows are skipped but counted, CRLF or not.
  const std::string path = write("blank.csv", "\r\n\nband,a\r\n1,0.5\r\n \r\n2,x\r\n");
  test::expectThrowWith<IoError>([&] { readEndmemberCsv(path); }, {"line 6", "'x'"});
  const std::string header = write("header.csv", "\n\nband,a,a\n1,0.5,0.5\n");
  test::expectThrowWith<IoError>([&] { readEndmemberCsv(header); }, {"line 3", "unique"});
}

TEST_F(EndmemberCsv, WriteFailuresLeaveNoFile) {
  EndmemberTable t;
  t.names = {"a"};
  t.bands = 2;
  t.values = {0.1f, 0.2f};
  const std::string unwritable = (dir_ / "no_such_dir" / "out.csv").string();
  test::expectThrowWith<IoError>([&] { writeEndmemberCsv(unwritable, t); }, {unwritable});
  EXPECT_FALSE(fs::exists(unwritable));
  t.values = {0.1f};
  EXPECT_THROW(writeEndmemberCsv((dir_ / "x.csv").string(), t), InvalidArgument);
  t.values = {0.1f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_THROW(writeEndmemberCsv((dir_ / "x.csv").string(), t), InvalidArgument);
  t.values = {0.1f, 0.2f};
  t.names = {"band"};
  EXPECT_THROW(writeEndmemberCsv((dir_ / "x.csv").string(), t), InvalidArgument);
  EXPECT_FALSE(fs::exists(dir_ / "x.csv"));
}

TEST(EndmemberNames, Defaults) {
  EXPECT_EQ(defaultEndmemberNames(3),
            (std::vector<std::string>{"endmember_1", "endmember_2", "endmember_3"}));
  EXPECT_TRUE(defaultEndmemberNames(0).empty());
}

}  // namespace
}  // namespace dequnmix

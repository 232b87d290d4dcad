// Output files that never clobber anything and never look complete before they are
// (no LibTorch, no QGIS types):
//   - StagedFile: a temporary sibling of a destination, created (so an unwritable folder
//     fails at once) before the work and renamed over the destination by commit();
//   - OutputCheck: the outputs of one run checked before the work against the run's inputs,
//     each other, special files and their expected extensions.
// Errors are thrown as dequnmix::IoError / dequnmix::InvalidArgument.
#pragma once

#include <string>
#include <vector>

namespace dequnmix::processing {

class StagedFile {
 public:
  // Creates the destination's folder when missing and an empty temporary file
  // ".<stem>.part-<pid>-<random><extension>" beside it, after removing the part files of
  // the same destination left by processes that no longer run. Throws IoError when the
  // folder cannot be created or written, or when the destination exists and is not a
  // regular file (a device, folder, pipe or socket is never replaced).
  explicit StagedFile(std::string destination);
  ~StagedFile();  // removes the temporary file and its companions unless committed
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;

  const std::string& destination() const { return destination_; }
  // Where the content is written before commit().
  const std::string& path() const { return path_; }
  // Renames the temporary file over the destination, with every companion file a format
  // wrote beside it (".<stem>.part-...hdr" -> "<stem>.hdr").
  void commit();

 private:
  void discard() const;
  std::string destination_;
  std::string folder_;
  std::string stem_;      // destination file name without its extension
  std::string partStem_;  // ".<stem>.part-<pid>-<random>"
  std::string path_;
  bool committed_ = false;
};

// Writes `text` into `staged` (not committed). Throws IoError naming the destination.
void writeStagedText(const StagedFile& staged, const std::string& text);
// Writes `text` to a staged file and commits it.
void writeTextFileAtomically(const std::string& path, const std::string& text);

class OutputCheck {
 public:
  // `label` names the parameter in messages ("INPUT (scene)"); `files` are every file the
  // input consists of (a raster's sidecars included). Paths that do not exist are ignored.
  void addInput(const std::string& label, const std::vector<std::string>& files);
  // An output file; `extensions` lists the accepted ones, lower case with the dot (empty:
  // any name). Empty paths (optional outputs not asked for) are ignored.
  void addOutput(const std::string& label, const std::string& path,
                 const std::vector<std::string>& extensions = {});
  // Throws InvalidArgument when an output resolves (after symbolic links) to an input or to
  // another output, when it exists and is not a regular file, or when its extension is not
  // accepted.
  void check() const;

 private:
  struct Entry {
    std::string label;
    std::string path;
    std::vector<std::string> extensions;
  };
  std::vector<Entry> inputs_;
  std::vector<Entry> outputs_;
};

// Lower-case extension of `path` with its dot (".tif"), or "" when it has none.
std::string lowerExtension(const std::string& path);

}  // namespace dequnmix::processing

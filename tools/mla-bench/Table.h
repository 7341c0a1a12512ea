//===- Table.h - Aligned text tables and CSV for mla-bench ------*- C++ -*-===//

#ifndef MLA_BENCH_TABLE_H
#define MLA_BENCH_TABLE_H

#include <cstdio>
#include <string>
#include <vector>

namespace mla {
namespace bench {

/// A table printed with every column padded to its widest cell; text columns
/// are left-aligned, numbers right-aligned.
class TextTable {
public:
  struct Column {
    std::string title;
    bool leftAlign = false;
  };
  explicit TextTable(std::vector<Column> columns);
  void addRow(std::vector<std::string> cells);
  /// An empty line between groups of rows.
  void addGap();
  void print(std::FILE *stream) const;
  bool empty() const { return rows.empty(); }

private:
  std::vector<Column> columns;
  std::vector<std::vector<std::string>> rows; // An empty row is a gap.
};

/// One CSV record (RFC 4180 quoting).
void printCsvRow(std::FILE *stream, const std::vector<std::string> &cells);

/// printf-style formatting into a std::string.
std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

} // namespace bench
} // namespace mla

#endif // MLA_BENCH_TABLE_H

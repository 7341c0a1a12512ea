//===- Table.cpp - Aligned text tables and CSV for mla-bench --------------===//

#include "Table.h"

#include <algorithm>
#include <cstdarg>
#include <utility>

using namespace mla::bench;

TextTable::TextTable(std::vector<Column> columns)
    : columns(std::move(columns)) {}

void TextTable::addRow(std::vector<std::string> cells) {
  cells.resize(columns.size());
  rows.push_back(std::move(cells));
}

void TextTable::addGap() {
  if (!rows.empty() && !rows.back().empty())
    rows.emplace_back();
}

void TextTable::print(std::FILE *stream) const {
  std::vector<size_t> widths;
  for (const Column &column : columns)
    widths.push_back(column.title.size());
  for (const auto &row : rows)
    for (size_t c = 0; c < row.size(); ++c)
      widths[c] = std::max(widths[c], row[c].size());

  auto printCells = [&](const std::vector<std::string> &cells) {
    std::string line;
    for (size_t c = 0; c < columns.size(); ++c) {
      const std::string &cell = cells[c];
      std::string pad(widths[c] - cell.size(), ' ');
      if (c)
        line += "  ";
      line += columns[c].leftAlign ? cell + pad : pad + cell;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    std::fprintf(stream, "%s\n", line.c_str());
  };

  std::vector<std::string> titles;
  size_t totalWidth = 0;
  for (size_t c = 0; c < columns.size(); ++c) {
    titles.push_back(columns[c].title);
    totalWidth += widths[c] + (c ? 2 : 0);
  }
  printCells(titles);
  std::fprintf(stream, "%s\n", std::string(totalWidth, '-').c_str());
  for (const auto &row : rows) {
    if (row.empty())
      std::fprintf(stream, "\n");
    else
      printCells(row);
  }
}

void mla::bench::printCsvRow(std::FILE *stream,
                             const std::vector<std::string> &cells) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i)
      line += ',';
    const std::string &cell = cells[i];
    if (cell.find_first_of(",\"\n") == std::string::npos) {
      line += cell;
      continue;
    }
    line += '"';
    for (char ch : cell) {
      if (ch == '"')
        line += '"';
      line += ch;
    }
    line += '"';
  }
  std::fprintf(stream, "%s\n", line.c_str());
}

std::string mla::bench::format(const char *fmt, ...) {
  va_list args, copy;
  va_start(args, fmt);
  va_copy(copy, args);
  int len = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string result(size_t(std::max(len, 0)), '\0');
  if (len > 0)
    std::vsnprintf(&result[0], size_t(len) + 1, fmt, args);
  va_end(args);
  return result;
}

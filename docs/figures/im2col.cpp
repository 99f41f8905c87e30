// Draws docs/images/im2col.png for cnn.md as Graphviz dot on stdout: a 1-channel 4x4 image with
// padding 1, a 3x3 kernel, the im2col matrix of the image (a row per kernel tap, a column per
// output position) and the output y = W cols, with one patch, its column and its output coloured.
// The columns come from this program's own loop, and the picture is only printed if W cols
// equals tg::conv2d's output (exit status 1 otherwise), so that it cannot drift from the library.
// tools/docs/make_images.sh renders it; docs.image_programs checks that it still writes it.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <string>
#include <vector>

namespace tg = tapegrad;

namespace {

constexpr int kSide = 4, kK = 3, kPad = 1;
constexpr int kOut = kSide + 2 * kPad - kK + 1;  // 4: a "same" convolution
constexpr int kTaps = kK * kK, kPositions = kOut * kOut;
constexpr int kOy = 1, kOx = 2;                  // the output position whose patch is coloured
constexpr int kColumn = kOy * kOut + kOx;

const char* const kPatch = "#9ecae1";    // the patch, its column, its output
const char* const kPadding = "#eeeeee";  // zeros that come from the padding

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// "(a,b)". (Built by appending: GCC 12 warns wrongly about `"(" + std::to_string(a)`, -Wrestrict.)
std::string pair(int a, int b) {
  std::string s = "(";
  s += std::to_string(a);
  s += ",";
  s += std::to_string(b);
  s += ")";
  return s;
}

// One cell; `bg` empty for none, `grey` for padding zeros.
std::string cell(const std::string& text, const char* bg = nullptr, bool grey = false, bool bold = false) {
  std::string td = "<TD";
  if (bg) td += std::string(" BGCOLOR=\"") + bg + "\"";
  td += ">";
  std::string body = text;
  if (bold) body = "<B>" + body + "</B>";
  if (grey) body = "<FONT COLOR=\"#888888\">" + body + "</FONT>";
  return td + body + "</TD>";
}

std::string caption(int colspan, const std::string& text) {
  return "<TR><TD BORDER=\"0\" COLSPAN=\"" + std::to_string(colspan) + "\">" + text + "</TD></TR>\n";
}

const char* const kTable = "<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\" CELLPADDING=\"5\">\n";

}  // namespace

int main() {
  // x holds 1..16 (NCHW [1, 1, 4, 4]); w is the kernel of cnn.md's first snippet.
  std::vector<double> pixels(kSide * kSide);
  for (int i = 0; i < kSide * kSide; ++i) pixels[i] = i + 1;
  const std::vector<double> kernel{1, 0, -1, 2, 1, 0, 0, -1, 1};
  auto X = [&](int r, int c) { return r < 0 || r >= kSide || c < 0 || c >= kSide ? 0.0 : pixels[r * kSide + c]; };
  auto inside = [](int r, int c) { return r >= 0 && r < kSide && c >= 0 && c < kSide; };

  // im2col: cols[i kw + j][oy OW + ox] = x[oy - pad + i][ox - pad + j] (stride 1), zero outside.
  std::vector<double> cols(kTaps * kPositions);
  for (int i = 0; i < kK; ++i)
    for (int j = 0; j < kK; ++j)
      for (int oy = 0; oy < kOut; ++oy)
        for (int ox = 0; ox < kOut; ++ox)
          cols[(i * kK + j) * kPositions + oy * kOut + ox] = X(oy - kPad + i, ox - kPad + j);

  // The product W [1, 9] x cols [9, 16] must be tapegrad's convolution, position by position.
  const tg::Dtype f64 = tg::Dtype::f64;
  const tg::Tensor x = tg::from_vector(pixels, {1, 1, kSide, kSide}, f64);
  const tg::Tensor w = tg::from_vector(kernel, {1, 1, kK, kK}, f64);
  const tg::Tensor y = tg::conv2d(x, w, {.padding = kPad});
  const tg::Tensor product = tg::matmul(tg::reshape(w, {1, kTaps}), tg::from_vector(cols, {kTaps, kPositions}, f64));
  for (int p = 0; p < kPositions; ++p)
    if (product.at({0, p}) != y.at({0, 0, p / kOut, p % kOut})) {
      std::fprintf(stderr, "im2col: W cols [0, %d] = %g but conv2d gives %g\n", p, product.at({0, p}),
                   y.at({0, 0, p / kOut, p % kOut}));
      return 1;
    }

  std::printf("digraph im2col {\n  rankdir=LR; nodesep=0.4; ranksep=0.5;\n");
  std::printf("  node [shape=plaintext, fontname=\"sans\", fontsize=12];\n");
  std::printf("  edge [fontname=\"sans\", fontsize=12, arrowsize=0.8];\n");

  // The padded image, the coloured patch being the one under output (kOy, kOx).
  std::string t = kTable;
  t += caption(kSide + 2 * kPad, "<B>x</B> [1, 1, 4, 4], padding 1");
  for (int r = -kPad; r < kSide + kPad; ++r) {
    t += "<TR>";
    for (int c = -kPad; c < kSide + kPad; ++c) {
      const bool patch = r >= kOy - kPad && r < kOy - kPad + kK && c >= kOx - kPad && c < kOx - kPad + kK;
      t += cell(num(X(r, c)), patch ? kPatch : inside(r, c) ? nullptr : kPadding, !inside(r, c));
    }
    t += "</TR>\n";
  }
  std::printf("  x [label=<%s</TABLE>>];\n", t.c_str());

  // The kernel, and the same nine numbers as the one row of W [O, C kh kw], drawn under cols.
  t = kTable;
  t += caption(kK, "<B>w</B> [1, 1, 3, 3]");
  for (int i = 0; i < kK; ++i) {
    t += "<TR>";
    for (int j = 0; j < kK; ++j) t += cell(num(kernel[i * kK + j]));
    t += "</TR>\n";
  }
  std::printf("  w [label=<%s</TABLE>>];\n", t.c_str());
  t = kTable;
  t += caption(kTaps, "<B>W</B> [O, C kh kw] = [1, 9]<BR/>a row per output channel");
  t += "<TR>";
  for (int k = 0; k < kTaps; ++k) t += cell(num(kernel[k]));
  t += "</TR>\n";
  std::printf("  W [label=<%s</TABLE>>];\n", t.c_str());

  // cols: a row per tap (i, j), a column per output position (oy, ox).
  t = kTable;
  t += caption(kPositions + 1, "<B>cols</B> = im2col(x) [C kh kw, OH OW] = [9, 16]: column (oy, ox) is the patch under "
                               "output (oy, ox), read row by row");
  t += "<TR>";
  t += cell("tap \\ output", nullptr, false, true);
  for (int p = 0; p < kPositions; ++p)
    t += cell(pair(p / kOut, p % kOut), p == kColumn ? kPatch : nullptr, false, true);
  t += "</TR>\n";
  for (int i = 0; i < kK; ++i)
    for (int j = 0; j < kK; ++j) {
      t += "<TR>";
      t += cell(pair(i, j), nullptr, false, true);
      for (int p = 0; p < kPositions; ++p) {
        const bool pad = !inside(p / kOut - kPad + i, p % kOut - kPad + j);
        t += cell(num(cols[(i * kK + j) * kPositions + p]), p == kColumn ? kPatch : pad ? kPadding : nullptr, pad);
      }
      t += "</TR>\n";
    }
  std::printf("  cols [label=<%s</TABLE>>];\n", t.c_str());

  // The output, read back from conv2d (equal to W cols, checked above).
  t = kTable;
  t += caption(kOut, "<B>y</B> = W cols<BR/>[1, 16] as [1, 1, 4, 4]");
  for (int oy = 0; oy < kOut; ++oy) {
    t += "<TR>";
    for (int ox = 0; ox < kOut; ++ox)
      t += cell(num(y.at({0, 0, oy, ox})), oy == kOy && ox == kOx ? kPatch : nullptr);
    t += "</TR>\n";
  }
  std::printf("  y [label=<%s</TABLE>>];\n", t.c_str());

  std::printf("  x -> cols [label=\"im2col\"];\n  w -> W [label=\"reshape\"];\n");
  std::printf("  cols -> y [label=\"one GEMM\\nper image\"];\n  W -> y;\n");
  std::printf("  {rank=same; x; w;}\n  {rank=same; cols; W;}\n}\n");
}

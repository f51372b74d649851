// MathJax for pymdownx.arithmatex (generic mode): renders the $...$ and $$...$$ maths of the
// API pages (paper Eq. 1-10). Loaded by the reader's browser; the build downloads nothing.
window.MathJax = {
  tex: { inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
};
document$.subscribe(() => {
  MathJax.startup.output.clearCache();
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});

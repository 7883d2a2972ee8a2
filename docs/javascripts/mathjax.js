// MathJax settings for pymdownx.arithmatex (generic mode): \( \) inline, $$ $$ display.
window.MathJax = {
  tex: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true},
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"},
};
document$.subscribe(() => { MathJax.typesetPromise && MathJax.typesetPromise(); });

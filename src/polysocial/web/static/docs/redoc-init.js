// Starts ReDoc on /redoc (a file, not an inline script: the page's Content-Security-Policy allows no inline script).
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("redoc");
  Redoc.init(root.dataset.openapiUrl, { disableSearch: false }, root);
});

// Filters the category list while typing; the search button does the same without JS.
(function () {
  var q = document.getElementById('q'), sel = document.getElementById('category');
  if (!q || !sel) return;
  q.addEventListener('input', function () {
    var words = q.value.trim().toLowerCase();
    Array.prototype.forEach.call(sel.querySelectorAll('option'), function (o) {
      o.hidden = words !== '' && o.value !== '' && o.textContent.toLowerCase().indexOf(words) < 0;
    });
  });
})();

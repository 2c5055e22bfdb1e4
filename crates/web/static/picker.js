// A click on the map fills the latitude and longitude fields (the inverse of
// the server's equirectangular projection, whose numbers come in data-*
// attributes); typing them moves the marker.
(function () {
  var svg = document.getElementById('picker-svg'), dot = document.getElementById('picker-marker');
  var lat = document.getElementById('lat'), lng = document.getElementById('lng');
  if (!svg || !dot || !lat || !lng) return;
  var minLng = +svg.dataset.minLng, maxLat = +svg.dataset.maxLat, kx = +svg.dataset.kx, scale = +svg.dataset.scale;
  function place(x, y) { dot.setAttribute('cx', x); dot.setAttribute('cy', y); dot.classList.remove('unset'); }
  svg.addEventListener('click', function (e) {
    var pt = svg.createSVGPoint(); pt.x = e.clientX; pt.y = e.clientY;
    var p = pt.matrixTransform(svg.getScreenCTM().inverse());
    lng.value = (p.x / (kx * scale) + minLng).toFixed(6);
    lat.value = (maxLat - p.y / scale).toFixed(6);
    place(p.x, p.y);
  });
  function typed() {
    var a = parseFloat(lat.value), o = parseFloat(lng.value);
    if (isFinite(a) && isFinite(o)) place((o - minLng) * kx * scale, (maxLat - a) * scale);
  }
  lat.addEventListener('input', typed); lng.addEventListener('input', typed);
})();

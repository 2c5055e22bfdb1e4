// Polls a running job's status and moves the bar; reloads for the final page.
(function () {
  var bar = document.getElementById('job-progress'), steps = document.getElementById('job-steps');
  if (!bar || !steps || bar.getAttribute('data-running') !== 'true') return;
  function poll() {
    fetch(bar.getAttribute('data-status'), {credentials: 'same-origin'})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        bar.value = s.percent;
        bar.textContent = s.percent + '%';
        steps.textContent = s.done + ' / ' + s.total;
        if (s.state === 'running') { setTimeout(poll, 400); } else { location.reload(); }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 200);
})();

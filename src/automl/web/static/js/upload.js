// Home page upload: drag-and-drop or picker, XHR for a real progress bar, then on to the dataset page.
"use strict";

(() => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("upload-input");
  const zone = document.getElementById("drop-zone");
  const nameBox = document.getElementById("upload-filename");
  const errorBox = document.getElementById("upload-error");
  const progress = document.getElementById("upload-progress");
  const bar = progress.querySelector(".progress-bar");
  const submit = form.querySelector("[data-testid='upload-submit']");
  const maxBytes = Number(input.dataset.maxMb) * 1024 * 1024;
  const accepted = /\.(csv|tsv|txt|xlsx|xls|parquet)$/i;

  function setProgress(pct, label) {
    progress.classList.remove("d-none");
    bar.style.width = `${pct}%`;
    bar.textContent = label || `${pct}%`;
    progress.setAttribute("aria-valuenow", String(pct));
  }

  function showFile() {
    App.hide(errorBox);
    const file = input.files[0];
    nameBox.textContent = file ? `${file.name} (${(file.size / 1024).toFixed(1)} KB)` : "";
  }

  function check(file) {
    if (!file) return "Choose a file first.";
    if (!accepted.test(file.name)) return "Unsupported file type: use .csv, .tsv, .txt, .xlsx, .xls or .parquet.";
    if (file.size === 0) return "The file is empty.";
    if (maxBytes && file.size > maxBytes) return `The file is larger than the ${input.dataset.maxMb} MB limit.`;
    return null;
  }

  function fail(message) {
    progress.classList.add("d-none");
    App.showMessage(errorBox, message);
    App.busy(submit, false);
  }

  input.addEventListener("change", showFile);
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("drag-over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.remove("drag-over"); });
  }
  zone.addEventListener("drop", (e) => {
    if (!e.dataTransfer.files.length) return;
    input.files = e.dataTransfer.files;
    showFile();
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = input.files[0];
    const problem = check(file);
    if (problem) return fail(problem);
    App.hide(errorBox);
    App.busy(submit, true, "Uploading…");
    const data = new FormData();
    data.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(App.csrfHeaders("POST"))) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) setProgress(Math.round((ev.loaded / ev.total) * 100));
    });
    xhr.upload.addEventListener("load", () => setProgress(100, "Profiling…"));
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.id !== undefined) {
        window.location.assign(`/datasets/${encodeURIComponent(body.id)}`);
      } else {
        fail(App.errorText(body && body.detail, xhr.status));
      }
    });
    xhr.addEventListener("error", () => fail("The upload failed: could not reach the server."));
    setProgress(0);
    xhr.send(data);
  });
  App.ready();
})();

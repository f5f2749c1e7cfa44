// The troubleshooting page opened with ?error=<text> (the form of the 404 page): the text goes into
// the error matcher's box, which lists the recipes for it as if the reader had pasted it.
document.addEventListener("DOMContentLoaded", () => {
  const text = new URLSearchParams(window.location.search).get("error");
  const input = document.getElementById("error-matcher-input");
  if (!text || !input || input.value) return;
  input.value = text;
  input.dispatchEvent(new Event("input"));
  input.focus();
});

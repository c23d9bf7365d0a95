// Passkeys (src/accounts/passkeys.rs): adding one on the account page, and
// signing in with one on the sign-in page. The server's options are
// WebAuthn's JSON forms, which the browser parses and answers in kind.
(() => {
  "use strict";

  const csrfToken = () => document.querySelector('input[name="csrf_token"]')?.value ?? "";

  // POSTs `body` as JSON with the page's CSRF token; the answer's JSON, or
  // an error carrying the server's message.
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body ?? {}),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(answer.error?.message ?? `The server answered ${response.status}: try again.`);
    }
    return answer;
  }

  // What a refusal by the browser or the device means to a person.
  function explain(error) {
    if (error.name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out.";
    }
    if (error.name === "InvalidStateError") {
      return "This device has a passkey for your account already.";
    }
    return error.message;
  }

  function say(element, message) {
    element.textContent = message;
    element.hidden = !message;
  }

  const supported = () => typeof window.PublicKeyCredential?.parseCreationOptionsFromJSON === "function";

  const add = document.getElementById("passkey-add");
  if (add) {
    const status = document.getElementById("passkey-add-status");
    add.addEventListener("submit", async (event) => {
      event.preventDefault();
      say(status, "");
      if (!supported()) {
        say(status, "This browser can't make passkeys.");
        return;
      }
      const form = new FormData(add);
      try {
        const options = await post("/account/passkeys/start", {
          name: form.get("passkey_new_name"),
          password: form.get("passkey_password"),
        });
        const credential = await navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey),
        });
        const done = await post("/account/passkeys/finish", credential.toJSON());
        window.location.assign(done.redirect);
      } catch (error) {
        say(status, explain(error));
      }
    });
  }

  const signIn = document.getElementById("passkey-sign-in");
  if (signIn) {
    const status = document.getElementById("passkey-sign-in-status");
    signIn.hidden = !supported();
    signIn.addEventListener("click", async () => {
      say(status, "");
      try {
        const next = document.querySelector('input[name="next"]')?.value ?? "";
        const options = await post("/login/passkey/start", { next });
        const assertion = await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey),
        });
        const done = await post("/login/passkey/finish", assertion.toJSON());
        window.location.assign(done.redirect);
      } catch (error) {
        say(status, explain(error));
      }
    });
  }
})();

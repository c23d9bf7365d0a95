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
    if (response.status === 429) {
      const wait = response.headers.get("Retry-After");
      throw new Error(`Too many attempts: try again${wait ? ` in ${wait} seconds` : " later"}.`);
    }
    if (response.status === 403 && !answer.error) {
      throw new Error("This page has expired: reload it and try again.");
    }
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
    if (error.name === "SecurityError") {
      return "Passkeys work only at this site's own address: open it there.";
    }
    return error.message;
  }

  function say(element, message) {
    element.textContent = message;
    element.hidden = !message;
  }

  const supported = () =>
    typeof window.PublicKeyCredential?.parseCreationOptionsFromJSON === "function" &&
    typeof window.PublicKeyCredential?.parseRequestOptionsFromJSON === "function" &&
    typeof window.PublicKeyCredential?.prototype.toJSON === "function";

  // Runs `ceremony` with `button` disabled, so a second press can't start
  // a second ceremony over the first; shows what went wrong in `status`.
  async function guarded(button, status, ceremony) {
    say(status, "");
    button.disabled = true;
    try {
      await ceremony();
    } catch (error) {
      say(status, explain(error));
    } finally {
      button.disabled = false;
    }
  }

  const add = document.getElementById("passkey-add");
  if (add && supported()) {
    const status = document.getElementById("passkey-add-status");
    const button = add.querySelector('button[type="submit"]');
    add.hidden = false;
    add.addEventListener("submit", (event) => {
      event.preventDefault();
      const form = new FormData(add);
      guarded(button, status, async () => {
        const options = await post("/account/passkeys/start", {
          name: form.get("passkey_new_name"),
          password: form.get("passkey_password"),
          code: form.get("passkey_code") ?? "",
        });
        const credential = await navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey),
        });
        if (!credential) {
          throw new Error("The device made no passkey.");
        }
        const done = await post("/account/passkeys/finish", credential.toJSON());
        window.location.assign(done.redirect);
      });
    });
  }

  const signIn = document.getElementById("passkey-sign-in");
  if (signIn && supported()) {
    const status = document.getElementById("passkey-sign-in-status");
    signIn.hidden = false;
    signIn.addEventListener("click", () =>
      guarded(signIn, status, async () => {
        const next = document.querySelector('input[name="next"]')?.value ?? "";
        const options = await post("/login/passkey/start", { next });
        const assertion = await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey),
        });
        const done = await post("/login/passkey/finish", assertion.toJSON());
        window.location.assign(done.redirect);
      }),
    );
  }
})();

// The signed-in account itself (docs/api.md "Accounts and sessions"): its password and its
// sessions (one per device or tab that logged in).
//
//   const account = new Account(client);
//   await account.changePassword("old one", "new one");   // other sessions end
//   for (const s of await account.sessions()) if (!s.current) await account.endSession(s.session_id);
export class Account {
  constructor(client) {
    this.client = client;
  }

  // Resolves with {changed: true, sessions_revoked}; a wrong current password rejects with
  // code "forbidden" (and counts toward the account's login lock-out).
  changePassword(currentPassword, newPassword) {
    return this.client.api("PUT", "/api/v1/accounts/me/password", {
      current_password: currentPassword,
      new_password: newPassword,
    });
  }

  // The live sessions, oldest first: [{session_id, created_at, expires_at, current}].
  async sessions() {
    return (await this.client.api("GET", "/api/v1/sessions")).sessions;
  }

  // Ends one of this account's sessions (its sockets close with 4001). Ending the current one
  // is a logout: use client.logout() for that, which also clears the local session.
  endSession(sessionId) {
    return this.client.api("DELETE", `/api/v1/sessions/${encodeURIComponent(sessionId)}`);
  }
}

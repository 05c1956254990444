package mnslocal

// ForgetTokens makes the emulator forget every STS token issued so far, as an issuer does that
// revoked or lost a key: requests signed with them get InvalidAccessKeyId from now on, where
// ExpireTokens gives SecurityTokenExpired.
func (s *Server) ForgetTokens() { s.creds.forgetAll() }

func (c *credStore) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.byKey)
}

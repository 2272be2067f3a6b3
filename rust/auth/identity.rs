//! What a verified credential says about its bearer; handed to Python as `request.auth`.

/// A verified identity. Built once per authenticated request; Python makes its
/// `covetpy.auth.Identity` from it only when the handler asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Which layer verified it: `"jwt"`, `"api_key"` (or a Python scheme's name).
    pub scheme: std::borrow::Cow<'static, str>,
    /// The token's `sub`, or the API key's name.
    pub subject: Option<Box<str>>,
    /// Granted scopes (`scope` as a space-separated string, or `scp` as a list).
    pub scopes: Vec<Box<str>>,
    /// Granted roles (the layer's roles claim, or the API key's roles).
    pub roles: Vec<Box<str>>,
    /// The token's payload as the JSON the client sent (None for API keys): Python decodes
    /// it only when the handler reads the claims.
    pub claims: Option<Vec<u8>>,
}

impl Identity {
    /// Whether it holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| &**s == scope)
    }

    /// Whether it holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| &**r == role)
    }
}

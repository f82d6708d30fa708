//! The citizen's personal data: checked, encrypted at rest, matched by keyed hash, masked in views.
//!
//! - Name, phone and ID number are stored AES-256-GCM encrypted (random 96-bit nonce per value).
//! - The same person is recognised across cases by HMAC-SHA256 of the normalized phone or ID
//!   number, so repeats are found without storing either in the clear.
//! - Both keys derive from one 32-byte secret (`intake.citizen_data_key`, base64), which is never
//!   logged: encryption key = HMAC(secret, "caseflow/citizen/encrypt"), matching key =
//!   HMAC(secret, "caseflow/citizen/match").

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use caseflow_runtime::config::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("intake.citizen_data_key must be 32 bytes, base64-encoded (`openssl rand -base64 32`)")]
    BadKey,
    #[error("stored citizen data cannot be decrypted with the configured key (or citizen_data_key_previous)")]
    Undecryptable,
}

/// Encrypts, decrypts and fingerprints citizen data.
///
/// While the key is being rotated (deploy/README.md, "Rotate the citizen-data key") the vault
/// also holds the key being retired: it writes and hashes with the new key only, reads values
/// written under either, and looks a person up under both keys' hashes, so the service runs
/// normally while `caseflow rotate-citizen-key` re-encrypts what is stored.
#[derive(Clone)]
pub struct CitizenVault {
    current: Keys,
    previous: Option<Keys>,
}

#[derive(Clone)]
struct Keys {
    cipher: Aes256Gcm,
    match_key: [u8; 32],
}

impl std::fmt::Debug for CitizenVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CitizenVault([keys redacted])")
    }
}

fn derive(secret: &[u8], label: &str) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

impl Keys {
    fn from_secret(secret: &Secret) -> Result<Self, VaultError> {
        let raw = B64.decode(secret.expose().trim()).map_err(|_| VaultError::BadKey)?;
        if raw.len() != 32 {
            return Err(VaultError::BadKey);
        }
        let enc = derive(&raw, "caseflow/citizen/encrypt");
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&enc)),
            match_key: derive(&raw, "caseflow/citizen/match"),
        })
    }

    fn decrypt(&self, stored: &str) -> Result<String, VaultError> {
        let raw = B64.decode(stored).map_err(|_| VaultError::Undecryptable)?;
        if raw.len() < 12 {
            return Err(VaultError::Undecryptable);
        }
        let (nonce, ciphertext) = raw.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| VaultError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| VaultError::Undecryptable)
    }

    fn person_key(&self, kind: &str, normalized: &str) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.match_key).expect("any key length");
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(normalized.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl CitizenVault {
    pub fn from_secret(secret: &Secret) -> Result<Self, VaultError> {
        Ok(Self { current: Keys::from_secret(secret)?, previous: None })
    }

    /// The same vault, also reading what was written under `previous` (the key being retired).
    pub fn with_previous(mut self, previous: &Secret) -> Result<Self, VaultError> {
        self.previous = Some(Keys::from_secret(previous)?);
        Ok(self)
    }

    /// The vault of the key being retired alone, while there is one.
    pub fn previous(&self) -> Option<CitizenVault> {
        self.previous.clone().map(|keys| CitizenVault { current: keys, previous: None })
    }

    /// `base64(nonce || ciphertext)`, under the current key.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .current
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("AES-GCM encryption of an in-memory string cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        B64.encode(out)
    }

    /// A value written under the current key or, during a rotation, the one being retired.
    pub fn decrypt(&self, stored: &str) -> Result<String, VaultError> {
        self.current.decrypt(stored).or_else(|e| self.previous.as_ref().map_or(Err(e), |p| p.decrypt(stored)))
    }

    /// Whether `stored` was written under the current key.
    pub fn is_current(&self, stored: &str) -> bool {
        self.current.decrypt(stored).is_ok()
    }

    /// Keyed hash identifying a person by a normalized identifier; `kind` separates phones from
    /// ID numbers so that equal digit strings never collide.
    pub fn person_key(&self, kind: &str, normalized: &str) -> String {
        self.current.person_key(kind, normalized)
    }

    /// The same person's hash under the key being retired, while there is one: a lookup asks
    /// for both until every stored row is rotated.
    pub fn previous_person_key(&self, kind: &str, normalized: &str) -> Option<String> {
        self.previous.as_ref().map(|p| p.person_key(kind, normalized))
    }

    /// Short keyed digest of a field value, for comparing resends without storing the value.
    pub fn fingerprint(&self, field: &str, value: &str) -> String {
        let full = self.person_key(field, value);
        full.get(..32).unwrap_or(&full).to_owned()
    }
}

/// The vault `config` describes: its key, and the key being retired while one is.
pub fn vault(config: &crate::IntakeConfig) -> Result<CitizenVault, VaultError> {
    let vault = CitizenVault::from_secret(&config.citizen_data_key)?;
    match &config.citizen_data_key_previous {
        Some(previous) => vault.with_previous(previous),
        None => Ok(vault),
    }
}

/// Digits only, without a +86 / 0086 country prefix or separators.
pub fn normalize_phone(raw: &str) -> String {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if raw.trim_start().starts_with('+')
        && let Some(rest) = digits.strip_prefix("86")
    {
        return rest.to_owned();
    }
    digits.strip_prefix("0086").map(str::to_owned).unwrap_or(digits)
}

/// Mainland mobile (1[3-9] + 9 digits) or landline (0 + 2-3 digit area code + 7-8 digits).
pub fn check_phone(raw: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+');
    if raw.is_empty() || !raw.chars().all(allowed) {
        return Err("must be a phone number of digits, optionally with spaces, '-' or a +86 prefix".into());
    }
    let n = normalize_phone(raw);
    let bytes = n.as_bytes();
    let mobile = n.len() == 11 && bytes[0] == b'1' && (b'3'..=b'9').contains(&bytes[1]);
    let landline = (10..=12).contains(&n.len()) && bytes[0] == b'0';
    if mobile || landline {
        Ok(n)
    } else {
        Err("must be a mainland mobile number (11 digits starting 13-19) or a landline with area code".into())
    }
}

/// Resident ID number (居民身份证号码), GB 11643-1999: 17 digits, then an ISO 7064 MOD 11-2
/// check character (0-9 or X), with a valid birth date at positions 7-14.
pub fn check_id_number(raw: &str) -> Result<String, String> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let id = raw.trim().to_ascii_uppercase();
    let chars: Vec<char> = id.chars().collect();
    if chars.len() != 18 {
        return Err("must be 18 characters (GB 11643-1999)".into());
    }
    let mut sum = 0;
    for (c, w) in chars[..17].iter().zip(WEIGHTS) {
        let d = c.to_digit(10).ok_or("the first 17 characters must be digits")?;
        sum += d * w;
    }
    let birth = &id[6..14];
    if chrono::NaiveDate::parse_from_str(birth, "%Y%m%d").is_err() {
        return Err("positions 7-14 must be a valid birth date (YYYYMMDD)".into());
    }
    if CHECK[(sum % 11) as usize] != chars[17] {
        return Err("check character does not match (GB 11643-1999 MOD 11-2)".into());
    }
    Ok(id)
}

/// The stars that stand for what a mask hides: always the same number, so that a mask says
/// nothing of how long the hidden part was.
const HIDDEN: &str = "**";

/// `陈**`: the surname's first character and a fixed `**`, whatever the name's length, so
/// `陈红` and `欧阳建国` mask to the same shape as `陈建红`. This follows the rule the courts
/// apply to natural persons in published judgments (《最高人民法院关于人民法院在互联网公布裁判文书
/// 的规定》, 法释〔2016〕19号: 保留姓氏，名字以“某”替代), with `*` for 某. A one-character
/// name keeps nothing, since its first character would be all of it.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match (chars.next(), chars.next()) {
        (None, _) => String::new(),
        (Some(_), None) => format!("*{HIDDEN}"),
        (Some(first), Some(_)) => format!("{first}{HIDDEN}"),
    }
}

/// `138****1234`: the first three and last four characters and a fixed `****`, so a landline
/// (`059****5678`) is not told from a mobile by its length. Numbers shorter than eight
/// characters keep nothing.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let n = chars.len();
    if n < 8 {
        return "****".into();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[n - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> CitizenVault {
        CitizenVault::from_secret(&Secret::new(B64.encode([7u8; 32]))).expect("valid key")
    }

    #[test]
    fn encryption_round_trips_and_hides_the_value() {
        let v = vault();
        let stored = v.encrypt("13812341234");
        assert!(!stored.contains("13812341234"));
        assert_ne!(stored, v.encrypt("13812341234"), "nonces differ");
        assert_eq!(v.decrypt(&stored).as_deref(), Ok("13812341234"));
    }

    #[test]
    fn person_key_matches_the_same_phone_written_differently() {
        let v = vault();
        let a = check_phone("+86 138-1234-1234").expect("valid");
        let b = check_phone("13812341234").expect("valid");
        assert_eq!(v.person_key("phone", &a), v.person_key("phone", &b));
        assert_ne!(v.person_key("phone", &a), v.person_key("id", &a));
    }

    #[test]
    fn during_a_rotation_old_values_read_and_new_ones_are_written_under_the_new_key() {
        let old = vault();
        let stored = old.encrypt("13812341234");
        let new_secret = Secret::new(B64.encode([9u8; 32]));
        let rotating = CitizenVault::from_secret(&new_secret)
            .expect("valid key")
            .with_previous(&Secret::new(B64.encode([7u8; 32])))
            .expect("valid key");
        assert_eq!(rotating.decrypt(&stored).as_deref(), Ok("13812341234"));
        assert!(!rotating.is_current(&stored));
        assert!(rotating.is_current(&rotating.encrypt("x")));
        assert_eq!(rotating.previous_person_key("phone", "13812341234"), Some(old.person_key("phone", "13812341234")));
        assert_ne!(rotating.person_key("phone", "13812341234"), old.person_key("phone", "13812341234"));
        // Once the old key is gone, what was not rotated no longer reads.
        let after = CitizenVault::from_secret(&new_secret).expect("valid key");
        assert_eq!(after.decrypt(&stored), Err(VaultError::Undecryptable));
        assert_eq!(after.previous_person_key("phone", "1"), None);
    }

    #[test]
    fn short_or_wrong_keys_are_refused() {
        assert_eq!(CitizenVault::from_secret(&Secret::new("c2hvcnQ=")).err(), Some(VaultError::BadKey));
    }

    #[test]
    fn phones_are_checked() {
        assert!(check_phone("13812341234").is_ok());
        assert!(check_phone("0595-22345678").is_ok());
        assert!(check_phone("12812341234").is_err());
        assert!(check_phone("1381234123").is_err());
        assert!(check_phone("138abc41234").is_err());
    }

    #[test]
    fn id_numbers_are_checked_with_their_checksum() {
        // The GB 11643-1999 worked example.
        assert_eq!(check_id_number("11010519491231002x").as_deref(), Ok("11010519491231002X"));
        assert!(check_id_number("110105194912310021").is_err(), "wrong check digit");
        assert!(check_id_number("110105194913310029").is_err(), "month 13");
        assert!(check_id_number("11010519491231002").is_err(), "17 characters");
    }

    #[test]
    fn masks_follow_the_convention() {
        assert_eq!(mask_name("陈建红"), "陈**");
        assert_eq!(mask_name("庄雅"), "庄**");
        assert_eq!(mask_name("欧阳建国"), "欧**");
        assert_eq!(mask_name("陈"), "***");
        assert_eq!(mask_phone("13812341234"), "138****1234");
        assert_eq!(mask_phone("0595-22345678"), "059****5678");
    }

    #[test]
    fn a_mask_does_not_tell_the_length_of_what_it_hides() {
        // The finding: a 26-character name masked to 26 asterisks.
        let long = "阿".repeat(26);
        for name in ["陈红", "陈建红", "欧阳建国", long.as_str()] {
            assert_eq!(mask_name(name).chars().count(), 3, "{name}");
        }
        for phone in ["13812341234", "0595-22345678", "+86 138 1234 1234"] {
            assert_eq!(mask_phone(phone).chars().count(), 11, "{phone}");
        }
    }
}

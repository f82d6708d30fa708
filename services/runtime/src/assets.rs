//! Files the pages serve themselves: government intranets reach no CDN.

/// WenQuanYi Micro Hei cut to GB 2312, as WOFF2 (`assets/README.md`: its source, licence and
/// how it was made). The console and the citizen's rating page set their Chinese text in it.
pub const CJK_FONT: &[u8] = include_bytes!("../assets/wqy-microhei-gb2312.woff2");

/// The `@font-face` family name the pages' styles use for [`CJK_FONT`].
pub const CJK_FONT_FAMILY: &str = "Caseflow Hei";

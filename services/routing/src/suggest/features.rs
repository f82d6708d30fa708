//! What the suggester looks at in a matter: its category and the category's group, its
//! sub-district (alone and with the category: some sub-districts handle a kind of matter
//! themselves), its source and kind, and the words of its summary as jieba cuts them (the same
//! words reporting counts for hot topics, `caseflow_runtime::words`).

/// A matter as the suggester sees it when it arrives.
#[derive(Debug, Clone, Copy)]
pub struct Traits<'a> {
    /// Level-2 taxonomy code (`group.sub`).
    pub category: &'a str,
    pub sub_district: &'a str,
    /// hotline | petition
    pub source: &'a str,
    pub kind: &'a str,
    pub summary: &'a str,
}

impl<'a> Traits<'a> {
    /// A stored matter's traits.
    pub fn of(m: &'a crate::store::MatterRow) -> Self {
        Self {
            category: &m.category,
            sub_district: &m.sub_district,
            source: &m.source,
            kind: &m.kind,
            summary: &m.summary,
        }
    }
}

/// The matter's features, each a short tagged string; a word appears once however often the
/// summary repeats it.
pub fn features(m: &Traits<'_>) -> Vec<String> {
    let mut out = vec![
        format!("c:{}", m.category),
        format!("cs:{}|{}", m.category, m.sub_district),
        format!("s:{}", m.sub_district),
        format!("src:{}", m.source),
        format!("k:{}|{}", m.source, m.kind),
    ];
    if let Some((group, _)) = m.category.split_once('.') {
        out.push(format!("g:{group}"));
    }
    out.extend(caseflow_runtime::words::terms(&[m.summary]).into_iter().map(|w| format!("w:{w}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matter_is_its_category_its_place_and_its_words() {
        let f = features(&Traits {
            category: "urban_management.cooking_fume",
            sub_district: "kaiyuan",
            source: "hotline",
            kind: "complaint",
            summary: "餐饮店油烟扰民",
        });
        for expected in ["c:urban_management.cooking_fume", "g:urban_management", "s:kaiyuan", "w:油烟"] {
            assert!(f.iter().any(|x| x == expected), "{expected} in {f:?}");
        }
        assert!(f.iter().any(|x| x == "cs:urban_management.cooking_fume|kaiyuan"), "{f:?}");
    }
}

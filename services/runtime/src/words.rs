//! Words of the matters' summaries, for reporting's hot topics (诉求热点) and routing's unit
//! suggester: segmented with jieba (the maintained Rust port of the jieba segmenter and its
//! dictionary; loaded once per process, so the all-in-one binary holds one dictionary), then
//! stripped of punctuation, single characters and the words every case uses.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use jieba_rs::Jieba;

/// Loading the dictionary takes a few hundred milliseconds: once per process.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Words that carry no topic in a citizen's request: the platform's and petitions' own
/// vocabulary and function words. Our list, from reading the bulletin's requests; no
/// external stop-word list is used.
const STOP_WORDS: &[&str] = &[
    "问题", "反映", "市民", "群众", "诉求", "要求", "希望", "请求", "投诉", "建议", "咨询", "求助", "相关", "部门",
    "处理", "解决", "情况", "存在", "进行", "没有", "一直", "目前", "现在", "已经", "我们", "他们", "自己", "这个",
    "那个", "什么", "怎么", "如何", "是否", "可以", "不能", "需要", "导致", "造成", "影响", "严重", "经常", "附近",
    "周边", "小区", "地方", "有关", "单位", "来电", "来信", "来访", "信访", "事项", "办理", "核实", "予以",
];

/// The distinct words of `texts` that can name a topic.
pub fn terms(texts: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for text in texts {
        for word in JIEBA.cut(text, true) {
            let word = word.word.trim();
            if word.chars().count() < 2 || STOP_WORDS.contains(&word) {
                continue;
            }
            if !word.chars().all(|c| c.is_alphanumeric()) || word.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            out.insert(word.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_cut_into_words_not_characters() {
        let t = terms(&["餐饮店油烟污染扰民", "工地施工噪音扰民问题"]);
        assert!(t.contains("油烟"), "{t:?}");
        assert!(t.contains("噪音"), "{t:?}");
        assert!(t.contains("施工"), "{t:?}");
        assert!(!t.contains("问题"), "a word every request uses is not a topic: {t:?}");
        assert!(t.iter().all(|w| w.chars().count() >= 2), "no single characters: {t:?}");
    }

    #[test]
    fn punctuation_and_numbers_are_not_words() {
        let t = terms(&["学区划分，转学！2020年退还学费？"]);
        assert!(t.contains("学区"), "{t:?}");
        assert!(t.iter().all(|w| w.chars().all(char::is_alphanumeric)), "{t:?}");
        assert!(!t.contains("2020"), "{t:?}");
    }
}

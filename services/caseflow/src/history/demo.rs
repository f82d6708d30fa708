//! `caseflow demo-data`: a seeded, realistic half-year for the district of the source bulletin
//! (鲤城区, 2020年上半年), written in the import format. The same seed gives the same file.
//!
//! The mix follows the bulletin (`shared/domain/000_75e8fb351e9c560f.txt`) at `scale` (1.0 is
//! the bulletin's volume: 2577 hotline cases, 602 petitions):
//! - hotline kinds 1999 : 573 : 4 : 1 (投诉, 建议, 咨询, 求助); categories 城市管理 32 %, 生态环境
//!   13 %, 市场监管 8 %, 教育 8 %, the rest spread;
//! - petitions by channel 144 letters, 47 visits, 154 online, 257 leader mailbox; categories led
//!   by 城乡建设, 政法, 卫生; a few petitioners who keep writing (the bulletin's 29, 14, 11, 11);
//!   single-visit matters (最多投一次) with their case analysis;
//! - who resolves a matter follows from its wording (`OWNERS`): the reform's overlaps (油烟
//!   between 城管局, 生态环境局 and 市场监管局; 违规装修 and 简易维修 between 住建局 and the
//!   sub-districts) and the matters sub-districts settle themselves. The platform names the
//!   owner three times in four; the petition office follows the catalog seven times in ten. A
//!   wrong first unit returns the matter to its owner (most returns approved, some refused), or,
//!   when the catalog names it, the dispatcher transfers the matter (the bulletin's
//!   "流转多个部门后才发现应由最初的承办单位办理"); barbecue-fume complaints sent to 区城管局 may
//!   bounce twice, hit the cap and be designated back to it (wrongful);
//! - extensions, reviews sent back, late resolutions, dispatches still open at the cut-off;
//! - hotline ratings near 97.7 % satisfied, petition participation near 60 %, expiries and
//!   follow-ups; 12 leader receptions.
//!
//! The same half-year a year earlier is generated too (with the bulletin's 614 and 2575), so
//! year-on-year figures have something to compare with.

use chrono::{DateTime, Datelike as _, Duration, FixedOffset, NaiveDate, TimeZone as _, Timelike as _};

use super::format::{self, Citizen, Contact, DispatchKey, Event, Line, Location, Matter, ReceptionMatter};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub seed: u64,
    /// 1.0 = the bulletin's volume for the half-year.
    pub scale: f64,
    /// First day of the half-year, in the district's time.
    pub start: NaiveDate,
    pub months: u32,
    /// Generate the same period a year earlier too.
    pub previous_year: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            seed: 2020,
            scale: 0.1,
            start: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default(),
            months: 6,
            previous_year: true,
        }
    }
}

/// xorshift64*: small and seeded.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn weighted<'a, T>(&mut self, xs: &'a [(T, f64)]) -> &'a T {
        let total: f64 = xs.iter().map(|x| x.1).sum();
        let mut r = self.unit() * total;
        for (x, w) in xs {
            if r < *w {
                return x;
            }
            r -= w;
        }
        &xs[xs.len() - 1].0
    }
    fn minutes(&mut self, lo: i64, hi: i64) -> Duration {
        Duration::minutes(lo + (self.next() % u64::try_from((hi - lo).max(1)).unwrap_or(1)) as i64)
    }
}

type At = DateTime<FixedOffset>;

/// A category, the unit the catalog names for it (None: overlapping or unsettled), and what
/// citizens write about it.
struct Topic {
    category: &'static str,
    unit: Option<&'static str>,
    summaries: &'static [&'static str],
}

const HOTLINE_TOPICS: &[(Topic, f64)] = &[
    (
        Topic {
            category: "urban_management.cooking_fume",
            unit: None,
            summaries: &[
                "烧烤摊油烟扰民",
                "露天烧烤油烟污染",
                "饭店油烟排放超标",
                "餐饮店油烟净化设施未运行",
                "无证小吃店油烟扰民",
            ],
        },
        10.0,
    ),
    (
        Topic {
            category: "urban_management.illegal_construction",
            unit: Some("chengguan"),
            summaries: &["楼顶违建", "私搭乱建占用公共空间"],
        },
        8.0,
    ),
    (
        Topic {
            category: "urban_management.city_appearance",
            unit: Some("chengguan"),
            summaries: &["垃圾清运不及时", "路面脏乱", "户外广告牌破损"],
        },
        6.0,
    ),
    (
        Topic {
            category: "urban_management.street_vending",
            unit: Some("chengguan"),
            summaries: &["占道经营堵塞交通"],
        },
        4.0,
    ),
    (
        Topic {
            category: "urban_management.parking",
            unit: Some("chengguan"),
            summaries: &["人行道车辆乱停放", "小区内车辆乱停放"],
        },
        4.5,
    ),
    (
        Topic {
            category: "ecology.construction_noise",
            unit: Some("shengtaihuanjing"),
            summaries: &["工地夜间施工噪音扰民"],
        },
        7.0,
    ),
    (
        Topic {
            category: "ecology.noise",
            unit: Some("shengtaihuanjing"),
            summaries: &["商铺音响噪音扰民", "广场舞音响噪音扰民"],
        },
        4.0,
    ),
    (Topic { category: "ecology.water", unit: Some("shengtaihuanjing"), summaries: &["河道污水排放"] }, 2.4),
    (
        Topic {
            category: "market_regulation.food_safety",
            unit: Some("shichangjianguan"),
            summaries: &["餐馆食品变质"],
        },
        3.0,
    ),
    (
        Topic {
            category: "market_regulation.consumer_rights",
            unit: Some("shichangjianguan"),
            summaries: &["商家拒绝退款", "预付卡退费纠纷"],
        },
        3.2,
    ),
    (
        Topic {
            category: "health.mask_supply",
            unit: Some("shichangjianguan"),
            summaries: &["口罩供应不足", "口罩价格过高"],
        },
        2.0,
    ),
    (Topic { category: "education.school_district", unit: Some("jiaoyu"), summaries: &["学区划分咨询"] }, 3.4),
    (Topic { category: "education.tuition_refund", unit: Some("jiaoyu"), summaries: &["培训机构退还学费"] }, 2.6),
    (Topic { category: "education.enrollment_transfer", unit: Some("jiaoyu"), summaries: &["转学手续办理"] }, 1.8),
    (
        Topic {
            category: "construction.property_management",
            unit: Some("zhujian"),
            summaries: &["物业服务不到位", "电梯故障长期未修"],
        },
        6.0,
    ),
    (
        Topic {
            category: "construction.structural_alteration",
            unit: Some("zhujian"),
            summaries: &["装修改变房屋结构"],
        },
        3.0,
    ),
    (Topic { category: "construction.fire_passage", unit: Some("xiaofang"), summaries: &["占用消防通道"] }, 1.6),
    (
        Topic {
            category: "health.quarantine_testing",
            unit: Some("weijian"),
            summaries: &["隔离检测安排", "核酸检测点咨询"],
        },
        3.5,
    ),
    (Topic { category: "health.medical_service", unit: Some("weijian"), summaries: &["医院服务态度"] }, 1.0),
    (Topic { category: "labour.wage_arrears", unit: Some("renshe"), summaries: &["拖欠工资"] }, 4.0),
    (Topic { category: "labour.social_insurance", unit: Some("renshe"), summaries: &["社保缴纳问题"] }, 2.6),
    (Topic { category: "labour.work_resumption", unit: Some("gongxin"), summaries: &["复工复产手续"] }, 1.2),
    (Topic { category: "economy.tax", unit: Some("shuiwu"), summaries: &["发票开具问题"] }, 0.8),
];

const PETITION_TOPICS: &[(Topic, f64)] = &[
    (
        Topic {
            category: "construction.renovation",
            unit: Some("zhujian"),
            summaries: &["违规装修拆除承重墙", "违规装修噪音扰民", "装修垃圾乱堆放"],
        },
        12.0,
    ),
    (Topic { category: "construction.housing_safety", unit: Some("zhujian"), summaries: &["危房改造"] }, 10.0),
    (Topic { category: "construction.property_management", unit: Some("zhujian"), summaries: &["物业费争议"] }, 8.0),
    (
        Topic {
            category: "construction.simple_repair",
            unit: Some("zhujian"),
            summaries: &["老旧小区楼道简易维修", "无物业小区屋面漏水简易维修", "申请使用维修资金简易维修"],
        },
        6.0,
    ),
    (Topic { category: "political_legal.dispute", unit: None, summaries: &["邻里纠纷调解"] }, 18.0),
    (Topic { category: "health.medical_service", unit: Some("weijian"), summaries: &["医疗纠纷"] }, 7.0),
    (Topic { category: "labour.wage_arrears", unit: Some("renshe"), summaries: &["拖欠农民工工资"] }, 6.5),
    (Topic { category: "labour.social_insurance", unit: Some("renshe"), summaries: &["退休待遇核定"] }, 3.0),
    (Topic { category: "discipline.conduct", unit: None, summaries: &["干部作风问题"] }, 5.5),
    (Topic { category: "economy.tax", unit: Some("shuiwu"), summaries: &["税费征收争议"] }, 4.2),
    (Topic { category: "education.school_district", unit: Some("jiaoyu"), summaries: &["入学安排"] }, 3.0),
];

const SUB_DISTRICTS: [&str; 8] =
    ["kaiyuan", "lizhong", "haibin", "jinlong", "jiangnan", "linjiang", "fuqiao", "changtai"];
const SURNAMES: [&str; 12] = ["陈", "林", "黄", "王", "李", "张", "吴", "蔡", "郑", "许", "杨", "庄"];
const GIVEN: [&str; 12] =
    ["建红", "碧英", "雅滨", "艺金", "志强", "丽华", "文彬", "秀兰", "国平", "美玲", "少东", "清泉"];
const STREETS: [&str; 6] = ["新华北路", "中山中路", "温陵路", "打锡巷", "涂门街", "江滨南路"];

/// Wrongful bouncing complaints: 区城管局 returns to 生态环境局, which returns to 市场监管局,
/// whose third return is refused at the cap; the dispatcher designates 区城管局.
const BOUNCE: [&str; 3] = ["chengguan", "shengtaihuanjing", "shichangjianguan"];

/// Who finally resolves a matter, by its wording, where that is not its topic's unit: the
/// overlaps the bulletin describes after the reform (油烟 between 城管局, 生态环境局 and
/// 市场监管局; 违规装修 and 简易维修 between 住建局 and the sub-districts) and the matters a
/// sub-district settles where they happen (属地管理). `None`: the sub-district of the matter.
/// The platform and the petition office do not always know this: their first assignment is
/// sometimes wrong (`wrong_unit`), and the matter is returned or transferred to its owner.
const OWNERS: &[(&str, Option<&str>)] = &[
    // Open-air barbecues are enforcement (《大气污染防治法》第一百一十八条, 城管局); emissions over
    // the standard and idle purifiers are monitoring (生态环境局); unlicensed food businesses are
    // licensing (市场监管局).
    ("烧烤摊油烟扰民", Some("chengguan")),
    ("露天烧烤油烟污染", Some("chengguan")),
    ("饭店油烟排放超标", Some("shengtaihuanjing")),
    ("餐饮店油烟净化设施未运行", Some("shengtaihuanjing")),
    ("无证小吃店油烟扰民", Some("shichangjianguan")),
    // Cleaning, residential parking, property disputes and square dances: the sub-district.
    ("垃圾清运不及时", None),
    ("路面脏乱", None),
    ("小区内车辆乱停放", None),
    ("物业服务不到位", None),
    ("广场舞音响噪音扰民", None),
    // Renovation: load-bearing walls are building safety (住建局); the neighbours' noise and rubble
    // are the sub-district's, though the catalog gives 违规装修 to 城管局's penalties.
    ("违规装修拆除承重墙", Some("zhujian")),
    ("违规装修噪音扰民", None),
    ("装修垃圾乱堆放", None),
    // Simple repairs in old estates without a property company are done by the sub-district;
    // the catalog gives every simple repair to 住建局 (the maintenance fund's owner).
    ("老旧小区楼道简易维修", None),
    ("无物业小区屋面漏水简易维修", None),
    ("申请使用维修资金简易维修", Some("zhujian")),
];

/// The old town's sub-districts: 城管局's own squads clear street vending there; elsewhere the
/// sub-district does.
const OLD_TOWN: [&str; 3] = ["kaiyuan", "lizhong", "haibin"];

/// The unit that finally resolves a matter about `summary` of `topic` in `sub_district`.
fn owner<'a>(topic: &Topic, summary: &str, sub_district: &'a str) -> &'a str {
    if topic.category == "urban_management.street_vending" && !OLD_TOWN.contains(&sub_district) {
        return sub_district;
    }
    match OWNERS.iter().find(|(s, _)| *s == summary) {
        Some((_, Some(unit))) => unit,
        Some((_, None)) => sub_district,
        None => topic.unit.unwrap_or(sub_district),
    }
}

/// A plausible wrong first unit for a matter `owner` resolves: the platform sends cooking fume
/// to 城管局 by habit, a department's matter to the sub-district where it happened, and a
/// sub-district's matter to the department of its topic.
fn wrong_unit<'a>(topic: &Topic, owner: &str, sub_district: &'a str) -> &'a str {
    if topic.category == "urban_management.cooking_fume" {
        return if owner == BOUNCE[0] { BOUNCE[1] } else { BOUNCE[0] };
    }
    match topic.unit {
        Some(unit) if owner == sub_district => unit,
        _ => sub_district,
    }
}

struct Gen<'a> {
    rng: Rng,
    lines: Vec<Line>,
    /// Takes each case's lines as soon as they are made (the benchmarks' millions of cases);
    /// without it they pile up in `lines`.
    sink: Option<&'a mut dyn FnMut(Vec<Line>)>,
    cutoff: At,
    /// Bounced matters so far in the half-year: even a small file has a couple.
    bounced: usize,
    /// Petitions whose answer was contested (复查) so far in the half-year: even a small file
    /// has a couple.
    reviewed: usize,
    /// The district's responsibility catalog (the built-in one routing uses): the petition
    /// office goes by it, and a unit it names cannot return the matter.
    catalog: Option<caseflow_routing::catalog::Catalog>,
}

/// A matter's first unit, its owner (who resolves it) and the catalog's unit.
struct Route<'a> {
    first: &'a str,
    owner: &'a str,
    catalog: Option<&'a str>,
    /// A cooking-fume complaint: the one that may bounce between three units.
    fume: bool,
}

fn working_hours(t: At) -> At {
    // Calls arrive 8:00-20:00 mostly.
    let h = t.hour();
    if h < 8 { t + Duration::hours(8 - i64::from(h)) } else { t }
}

impl Gen<'_> {
    /// The unit the catalog names for a matter received at `t`, as routing works it out.
    fn catalog_unit(&self, category: &str, summary: &str, sub_district: &str, t: At) -> Option<String> {
        let facts = caseflow_routing::catalog::MatterFacts { category, summary, sub_district, on: t.date_naive() };
        self.catalog.as_ref()?.responsible(&facts).map(|e| e.unit.clone())
    }

    fn push(&mut self, at: At, event: Event) -> bool {
        self.push_expecting(at, event, None)
    }

    fn push_expecting(&mut self, at: At, event: Event, expect: Option<&str>) -> bool {
        if at > self.cutoff {
            return false;
        }
        self.lines.push(Line { at, event, expect_refusal: expect.map(str::to_owned) });
        true
    }

    fn citizen(&mut self, person: Option<usize>) -> Citizen {
        let p = person.unwrap_or_else(|| self.rng.below(100_000));
        Citizen {
            name: format!("{}{}", SURNAMES[p % SURNAMES.len()], GIVEN[(p / SURNAMES.len()) % GIVEN.len()]),
            phone: format!("139{:08}", 10_000_000 + p % 89_999_999),
            ..Citizen::default()
        }
    }

    /// One holding unit's work on a dispatch from `t`: acknowledgement, landing, reply, review
    /// and resolution (or a part of it, when the cut-off comes first). Returns when it resolved.
    fn handle(
        &mut self,
        key: &DispatchKey,
        t: At,
        petition: bool,
        single_visit: bool,
        acknowledged: bool,
    ) -> Option<At> {
        let ack = if acknowledged {
            t
        } else {
            let r = &mut self.rng;
            let late_ack = r.chance(0.03);
            let ack = t + if late_ack { r.minutes(200, 600) } else { r.minutes(5, 90) };
            if !self.push(ack, Event::Acknowledge { dispatch: key.clone() }) {
                return None;
            }
            ack
        };
        let land = ack + self.rng.minutes(60, if petition { 3 * 24 * 60 } else { 16 * 60 });
        let method = self.rng.pick(&["phone", "site_visit"]).to_string();
        if !self.push(land, Event::Land { dispatch: key.clone(), method, note: "已联系诉求人核实情况".into() })
        {
            return None;
        }
        let mut next = land;
        if !single_visit && self.rng.chance(0.03) {
            let at = land + Duration::hours(2);
            let days = if petition { 15 } else { 3 };
            self.push(
                at,
                Event::ExtensionRequest {
                    dispatch: key.clone(),
                    days,
                    reason: "需协调多部门".into(),
                    progress: "已现场核查".into(),
                },
            );
            let approve = self.rng.chance(0.8);
            self.push(
                at + Duration::hours(3),
                Event::ExtensionDecision {
                    dispatch: key.clone(),
                    approve,
                    reason: if approve { "同意延期".into() } else { "理由不充分".into() },
                    days: None,
                },
            );
            next = at + Duration::hours(4);
        }
        let late = self.rng.chance(if petition { 0.01 } else { 0.012 });
        let work = if petition {
            self.rng.minutes(3 * 24 * 60, if single_visit { 12 * 24 * 60 } else { 40 * 24 * 60 })
        } else if late {
            self.rng.minutes(8 * 24 * 60, 12 * 24 * 60)
        } else {
            self.rng.minutes(3 * 60, 4 * 24 * 60)
        };
        let reply = next + work;
        if !self.push(reply, Event::Reply { dispatch: key.clone(), text: "经核查已处理，并答复诉求人".into() })
        {
            return None;
        }
        let mut review_at = reply + self.rng.minutes(20, 180);
        if self.rng.chance(0.02) {
            self.push(
                review_at,
                Event::Review { dispatch: key.clone(), accept: false, reason: "答复未回应诉求要点".into() },
            );
            let again = review_at + self.rng.minutes(120, 24 * 60);
            self.push(again, Event::Reply { dispatch: key.clone(), text: "补充办理情况并再次答复".into() });
            review_at = again + self.rng.minutes(20, 120);
        }
        if single_visit {
            self.push(
                review_at - Duration::minutes(10),
                Event::CaseAnalysis {
                    dispatch: key.clone(), text: "一事一分析：诉求合理，已一次性办结".into()
                },
            );
        }
        self.push(review_at, Event::Review { dispatch: key.clone(), accept: true, reason: String::new() });
        let resolved = review_at + self.rng.minutes(5, 60);
        self.push(resolved, Event::Resolve { dispatch: key.clone() }).then_some(resolved)
    }

    fn contact(&mut self, at: At) -> Option<Contact> {
        Some(Contact { at, method: "phone".into(), learned: "已电话联系诉求人核实诉求".into() })
    }

    /// The matter's route from its first unit to its owner, the unit that resolves it.
    fn route(&mut self, case: &str, route: &Route<'_>, t: At, petition: bool, single_visit: bool) -> Option<At> {
        let key = |unit: &str| DispatchKey { case: case.to_owned(), matter: 1, unit: unit.to_owned() };
        let r = self.rng.unit();
        // A complaint about cooking fume that bounces: the reform's story.
        if !petition
            && route.fume
            && route.first == BOUNCE[0]
            && route.owner == BOUNCE[0]
            && (r < 0.12 || self.bounced < 2)
        {
            self.bounced += 1;
            let mut at = t;
            for (i, pair) in BOUNCE.windows(2).enumerate() {
                let k = key(pair[0]);
                at += self.rng.minutes(10, 60);
                self.push(at, Event::Acknowledge { dispatch: k.clone() });
                at += self.rng.minutes(20, 90);
                let (entry, basis) = if i == 0 {
                    (Some("eco-fume-monitoring".into()), None)
                } else {
                    (None, Some("《食品安全法》餐饮服务许可".into()))
                };
                let contact = self.contact(at - Duration::minutes(10));
                self.push(
                    at,
                    Event::ReturnRequest {
                        dispatch: k.clone(),
                        reason_code: "not_our_duty".into(),
                        reason: "认为不属本单位职责".into(),
                        proposed_unit: pair[1].into(),
                        catalog_entry: entry,
                        legal_basis: basis,
                        contact,
                    },
                );
                at += self.rng.minutes(30, 120);
                self.push(
                    at,
                    Event::ReturnDecision {
                        dispatch: k, approve: true, reason: "证据充分".into(), next_unit: None
                    },
                );
            }
            let k = key(BOUNCE[2]);
            at += self.rng.minutes(10, 60);
            self.push(at, Event::Acknowledge { dispatch: k.clone() });
            at += self.rng.minutes(20, 60);
            let contact = self.contact(at - Duration::minutes(5));
            self.push_expecting(
                at,
                Event::ReturnRequest {
                    dispatch: k,
                    reason_code: "not_our_duty".into(),
                    reason: "油烟不属市场监管".into(),
                    proposed_unit: "chengguan".into(),
                    catalog_entry: Some("cm-fume".into()),
                    legal_basis: None,
                    contact,
                },
                Some("return.cap"),
            );
            at += self.rng.minutes(60, 240);
            self.push(
                at,
                Event::Designate {
                    case: case.to_owned(),
                    matter: 1,
                    unit: BOUNCE[0].into(),
                    reason: "经研判由城管局牵头办理".into(),
                    basis: "《大气污染防治法》第一百一十八条".into(),
                },
            );
            return self.handle(&key(BOUNCE[0]), at, petition, single_visit, false);
        }
        if route.first != route.owner {
            // A wrong first assignment: the unit says so, and the matter goes to its owner.
            let (first, owner) = (route.first, route.owner);
            let k = key(first);
            let mut at = t + self.rng.minutes(10, 60);
            self.push(at, Event::Acknowledge { dispatch: k.clone() });
            at += self.rng.minutes(20, 120);
            if route.catalog == Some(first) {
                // The catalog names the first unit, so its return would be rejected at once
                // (rule 3): it explains, and the dispatcher moves the matter on.
                self.push(
                    at,
                    Event::Transfer {
                        dispatch: k,
                        to: owner.into(),
                        reason: "经核实由属地或主管单位办理更为适宜".into(),
                        basis: String::new(),
                    },
                );
                return self.handle(&key(owner), at, petition, single_visit, false);
            }
            let contact = self.contact(at - Duration::minutes(10));
            self.push(
                at,
                Event::ReturnRequest {
                    dispatch: k.clone(),
                    reason_code: "not_our_duty".into(),
                    reason: if SUB_DISTRICTS.contains(&first) {
                        "属行业主管部门职责"
                    } else {
                        "属属地管理事项"
                    }
                    .into(),
                    proposed_unit: owner.into(),
                    catalog_entry: None,
                    legal_basis: Some("职责清单".into()),
                    contact,
                },
            );
            at += self.rng.minutes(30, 180);
            let approve = self.rng.chance(0.85);
            self.push(
                at,
                Event::ReturnDecision {
                    dispatch: k.clone(),
                    approve,
                    reason: if approve { "同意".into() } else { "首办负责，应先行处置".into() },
                    next_unit: None,
                },
            );
            let holder = if approve { owner } else { first };
            // Refused, the first unit keeps the dispatch it already acknowledged.
            return self.handle(&key(holder), at, petition, single_visit, !approve);
        }
        self.handle(&key(route.first), t, petition, single_visit, false)
    }

    fn rate(&mut self, case: &str, units: &[String], resolved: At, petition: bool) {
        let window = if petition { 30 } else { 7 };
        if self.rng.chance(if petition { 0.6 } else { 0.93 }) {
            let at = resolved + self.rng.minutes(60, (window - 1) * 24 * 60);
            let level = if petition {
                *self.rng.weighted(&[("satisfied", 70.0), ("basic", 16.0), ("unsatisfied", 14.0)])
            } else {
                *self.rng.weighted(&[
                    ("very_satisfied", 55.0),
                    ("satisfied", 38.0),
                    ("basic", 4.8),
                    ("unsatisfied", 1.6),
                    ("poor", 0.6),
                ])
            };
            // A petition's units are rated on their own parts; the office's part was rated on
            // its own, after its decision (`rate_agency`).
            let (level, unit_levels): (String, std::collections::BTreeMap<String, String>) = if petition {
                (String::new(), units.iter().map(|u| (u.clone(), level.to_owned())).collect())
            } else {
                (level.to_owned(), Default::default())
            };
            let unsatisfied = matches!(level.as_str(), "unsatisfied" | "poor")
                || unit_levels.values().any(|l: &String| l == "unsatisfied");
            self.push(at, Event::Rating { case: case.into(), level, unit_levels });
            if unsatisfied && self.rng.chance(0.5) {
                self.push(
                    at + Duration::hours(20),
                    Event::FollowUp {
                        case: case.into(),
                        outcome: "explanation".into(),
                        note: "已做好政策解释".into(),
                        part: None,
                    },
                );
            }
        } else {
            // The window closes at the end of its last day; the expiry is recorded the next morning.
            let day = (resolved + Duration::days(window + 1)).date_naive();
            let at = resolved.timezone().from_local_datetime(&day.and_hms_opt(8, 0, 0).unwrap_or_default()).single();
            if let Some(at) = at {
                // A petition's unit part expires on its own (the office's may have been rated).
                let part = petition.then(|| units.first().cloned()).flatten();
                self.push(at, Event::Expiry { case: case.into(), part });
            }
        }
    }

    /// The petition office's own part, opened by its decision at `decided`: rated by almost
    /// every petitioner (the bulletin: 信访机构群众参评率98.9%，满意率93.3%), at its own time.
    /// Drawn from the petition's own stream, like its decision.
    fn rate_agency(&mut self, own: &mut Rng, case: &str, decided: At) {
        const WINDOW: i64 = 30;
        if own.chance(0.989) {
            let at = decided + own.minutes(60, (WINDOW - 1) * 24 * 60);
            let level = *own.weighted(&[("satisfied", 80.0), ("basic", 13.3), ("unsatisfied", 6.7)]);
            self.push(at, Event::Rating { case: case.into(), level: level.into(), unit_levels: Default::default() });
        } else {
            let day = (decided + Duration::days(WINDOW + 1)).date_naive();
            let at = decided.timezone().from_local_datetime(&day.and_hms_opt(8, 0, 0).unwrap_or_default()).single();
            if let Some(at) = at {
                self.push(at, Event::Expiry { case: case.into(), part: Some("agency".into()) });
            }
        }
    }

    fn hotline(&mut self, n: usize, t: At, year: i32) {
        let number = format!("GD{year}{n:06}");
        let topic = self.rng.weighted(HOTLINE_TOPICS);
        let kind = *self.rng.weighted(&[
            ("complaint", 1999.0),
            ("suggestion", 573.0),
            ("inquiry", 4.0),
            ("help_request", 1.0),
        ]);
        let sub_district = *self.rng.pick(&SUB_DISTRICTS);
        let summary = *self.rng.pick(topic.summaries);
        let owner = owner(topic, summary, sub_district);
        // The platform names the owner three times in four (and 区城管局 for the barbecue fume
        // that bounces, until each half-year has its two).
        let bounces = owner == BOUNCE[0] && topic.category == "urban_management.cooking_fume" && self.bounced < 2;
        let first = if self.rng.chance(0.75) || bounces { owner } else { wrong_unit(topic, owner, sub_district) };
        let person = self.rng.chance(0.03).then(|| self.rng.below(40));
        let order = format::Order {
            order_number: number.clone(),
            received_at: t,
            channel: (*self.rng.weighted(&[
                ("phone", 60.0),
                ("web", 14.0),
                ("app", 11.0),
                ("mini_program", 10.0),
                ("merged_hotline", 5.0),
            ]))
            .into(),
            kind: kind.into(),
            category: topic.category.into(),
            content: format!(
                "{}{}号附近{}，请相关部门处理。",
                self.rng.pick(&STREETS),
                1 + self.rng.below(200),
                summary
            ),
            location: Location {
                sub_district: sub_district.into(),
                address: format!("{}{}号", self.rng.pick(&STREETS), 1 + self.rng.below(200)),
            },
            citizen: self.citizen(person),
            matters: vec![Matter {
                category: topic.category.into(),
                summary: summary.into(),
                target_unit: first.into(),
            }],
            related_case: None,
        };
        if !self.push(t, Event::HotlineOrder { order }) {
            return;
        }
        let catalog = self.catalog_unit(topic.category, summary, sub_district, t);
        let route = Route {
            first,
            owner,
            catalog: catalog.as_deref(),
            fume: topic.category == "urban_management.cooking_fume",
        };
        if let Some(resolved) = self.route(&number, &route, t, false, false) {
            self.rate(&number, &[], resolved, false);
        }
    }

    fn petition(&mut self, n: usize, t: At, year: i32, person: Option<usize>) {
        let number = format!("XF{year}{n:06}");
        let topic = self.rng.weighted(PETITION_TOPICS);
        let channel = *self.rng.weighted(&[
            ("letter", 144.0),
            ("visit", 47.0),
            ("online_complaint", 154.0),
            ("leader_mailbox", 257.0),
        ]);
        let sub_district = *self.rng.pick(&SUB_DISTRICTS);
        let summary = *self.rng.pick(topic.summaries);
        let owner = owner(topic, summary, sub_district);
        // The petition office goes by the catalog seven times in ten, else names the owner three
        // times in four.
        let catalog = self.catalog_unit(topic.category, summary, sub_district, t);
        let first = match &catalog {
            Some(unit) if self.rng.chance(0.7) => unit.clone(),
            _ if self.rng.chance(0.75) => owner.to_owned(),
            _ => wrong_unit(topic, owner, sub_district).to_owned(),
        };
        let first = first.as_str();
        let single_visit = person.is_none() && self.rng.chance(0.25);
        let visit = channel == "visit";
        let petition = format::Petition {
            petition_number: number.clone(),
            received_at: t,
            channel: channel.into(),
            purpose: "request_decision".into(),
            accused_unit: String::new(),
            category: topic.category.into(),
            content: format!("反映{}问题，请求依法处理。", summary),
            location: Location {
                sub_district: sub_district.into(),
                address: format!("{}{}号", self.rng.pick(&STREETS), 1 + self.rng.below(200)),
            },
            citizen: self.citizen(person.map(|p| 100_000 + p)),
            matters: vec![Matter {
                category: topic.category.into(),
                summary: summary.into(),
                target_unit: first.into(),
            }],
            visit_batches: visit.then_some(1),
            visit_persons: visit.then(|| 1 + i32::try_from(self.rng.below(3)).unwrap_or(0)),
            joint_signers: None,
            single_visit,
            related_case: None,
            decision: None,
        };
        // The petition office's decision (信访工作条例 第二十二条). Most petitions are accepted
        // at registration; some are registered and accepted days later (within the 15 days, a
        // few late), and some never reach a unit: not accepted (a statutory channel), no longer
        // accepted, or forwarded outside the district (the bulletin counts 602 petitions but
        // only 111 unit evaluations).
        // Drawn from the petition's own stream, so the rest of the file is what it was before
        // decisions were generated.
        let mut own = Rng::new(
            number.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)),
        );
        let mut petition = petition;
        let mut accepted_at = t;
        let r = own.unit();
        let refused = |outcome: &str, notice: &str| format::Decision {
            outcome: outcome.into(),
            legal_channel: String::new(),
            concluded_case: String::new(),
            forwarded_to: String::new(),
            notice: notice.into(),
        };
        let later = if r < 0.06 {
            let channel = *own.pick(&["litigation", "arbitration", "administrative_review"]);
            petition.decision = Some(format::Decision {
                legal_channel: channel.into(),
                ..refused("not_accepted", "该信访事项应当通过法定途径解决，不予受理，已书面告知信访人。")
            });
            None
        } else if r < 0.08 {
            petition.decision = Some(format::Decision {
                concluded_case: format!("XF{}000001", year - 1),
                ..refused("no_longer_accepted", "同一事实已复核终结，不再受理，已书面告知信访人。")
            });
            None
        } else if r < 0.11 {
            petition.decision = Some(format::Decision {
                forwarded_to: "泉州市丰泽区信访局".into(),
                ..refused("forwarded", "该事项属丰泽区职权范围，已转送并书面告知信访人。")
            });
            None
        } else if r < 0.26 {
            petition.decision = Some(refused("pending", ""));
            // Decided 1 to 14 days later, one in twenty after the 15 days.
            let days = if own.chance(0.05) { 16 + own.below(5) } else { 1 + own.below(14) };
            accepted_at = working_hours(t + Duration::days(i64::try_from(days).unwrap_or(1)));
            Some(accepted_at)
        } else {
            Some(t)
        };
        let accepted = petition.decision.as_ref().is_none_or(|d| d.outcome == "pending");
        if !self.push(t, Event::Petition { petition }) {
            return;
        }
        if let Some(at) = later.filter(|at| *at != t) {
            let decision = refused("accepted", "您的信访事项已受理，已转有权处理机关办理，特此告知。");
            if !self.push(at, Event::PetitionDecision { case: number.clone(), decision }) {
                return;
            }
        }
        self.rate_agency(&mut own, &number, later.unwrap_or(t));
        if !accepted {
            return;
        }
        let route = Route { first, owner, catalog: catalog.as_deref(), fume: false };
        if let Some(resolved) = self.route(&number, &route, accepted_at, true, single_visit) {
            let holder = self
                .lines
                .iter()
                .rev()
                .find_map(|l| match &l.event {
                    Event::Resolve { dispatch } if dispatch.case == number => Some(dispatch.unit.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| first.to_owned());
            self.rate(&number, &[holder], resolved, true);
            self.review(&mut own, &number, resolved);
        }
    }

    /// Some petitioners contest the answer: 复查 within 30 days of receiving it, decided within
    /// 30 days (a few late), and against some review opinions 复核 the same way (信访工作条例
    /// 第三十五条, 第三十六条). Drawn from the petition's own stream.
    fn review(&mut self, own: &mut Rng, case: &str, resolved: At) {
        // Drawn first, so the petition's stream does not depend on the count.
        let asked = own.chance(0.05);
        if !asked && self.reviewed >= 2 {
            return;
        }
        self.reviewed += 1;
        let mut answered = resolved + own.minutes(24 * 60, 3 * 24 * 60);
        let mut reviewing_body = "鲤城区人民政府";
        for level in ["review", "re_review"] {
            let requested = working_hours(answered + Duration::days(1 + i64::try_from(own.below(25)).unwrap_or(0)));
            let request = Event::ReviewRequest {
                case: case.into(),
                level: level.into(),
                reviewing_body: reviewing_body.into(),
                answer_received_at: answered,
            };
            if !self.push(requested, request) {
                return;
            }
            let days = if own.chance(0.05) { 31 + own.below(5) } else { 5 + own.below(24) };
            let decided = working_hours(requested + Duration::days(i64::try_from(days).unwrap_or(5)));
            let outcome = *own.weighted(&[("upheld", 80.0), ("changed", 12.0), ("revoked", 8.0)]);
            let decision = Event::ReviewDecision {
                case: case.into(),
                level: level.into(),
                outcome: outcome.into(),
                opinion: match outcome {
                    "upheld" => "原处理意见认定事实清楚，处理适当，予以维持。",
                    "changed" => "原处理意见处理不当，予以变更，并书面答复信访人。",
                    _ => "原处理意见认定事实不清，予以撤销，责成原办理机关重新办理。",
                }
                .into(),
            };
            // The first one contested in a file goes on to 复核, so even a small file has one.
            let again = own.chance(0.3) || self.reviewed == 1;
            if !self.push(decided, decision) || !again {
                return;
            }
            answered = decided + own.minutes(60, 24 * 60);
            reviewing_body = "泉州市人民政府";
        }
    }

    fn receptions(&mut self, start: At, days: i64, year: i32, count: usize) {
        for i in 0..count {
            let at = working_hours(
                start
                    + Duration::days(i64::try_from(i).unwrap_or(0) * days / i64::try_from(count.max(1)).unwrap_or(1))
                    + Duration::hours(9),
            );
            let outcome = match i % 12 {
                0 => "solved_on_spot",
                5 => "in_progress",
                _ => "resolved",
            };
            self.push(
                at,
                Event::LeaderReception {
                    reception_number: format!("JF{year}{:03}", i + 1),
                    leader_name: format!("{}{}", SURNAMES[i % SURNAMES.len()], GIVEN[(i + 3) % GIVEN.len()]),
                    leader_title: if i % 2 == 0 { "区委书记".into() } else { "区长".into() },
                    persons: 1 + i32::try_from(i % 3).unwrap_or(0) / 2 + i32::from(i % 4 == 0),
                    matters: vec![ReceptionMatter {
                        summary: "反映历史遗留问题".into(),
                        outcome: outcome.into(),
                        case: None,
                    }],
                },
            );
        }
    }

    /// One half-year (or `months`) of cases starting at `start`.
    fn period(&mut self, start: NaiveDate, months: u32, hotline: usize, petitions: usize) {
        let offset = caseflow_runtime::clock::district_offset();
        let end = start.checked_add_months(chrono::Months::new(months)).unwrap_or(start);
        let days = (end - start).num_days().max(1);
        let Some(t0) = offset.from_local_datetime(&start.and_hms_opt(0, 0, 0).unwrap_or_default()).single() else {
            return;
        };
        let year = start.year();
        let moment = |rng: &mut Rng| {
            working_hours(
                t0 + Duration::minutes(
                    i64::try_from(rng.next() % u64::try_from(days * 24 * 60).unwrap_or(1)).unwrap_or(0),
                ),
            )
        };
        for n in 0..hotline {
            let t = moment(&mut self.rng);
            self.hotline(n + 1, t, year);
            self.flush();
        }
        // The bulletin's repeat petitioners wrote 29, 14, 11 and 11 times in the half-year.
        let repeats: Vec<usize> = [29.0, 14.0, 11.0, 11.0]
            .iter()
            .map(|n: &f64| ((n * petitions as f64 / 602.0).round() as usize).max(2))
            .collect();
        let mut number = 0;
        for (person, times) in repeats.iter().enumerate() {
            for _ in 0..*times {
                number += 1;
                let t = moment(&mut self.rng);
                self.petition(number, t, year, Some(person));
                self.flush();
            }
        }
        while number < petitions {
            number += 1;
            let t = moment(&mut self.rng);
            self.petition(number, t, year, None);
            self.flush();
        }
        let receptions = ((12.0 * petitions as f64 / 602.0).round() as usize).max(1);
        self.receptions(t0, days, year, receptions);
        self.flush();
    }

    fn flush(&mut self) {
        if let Some(sink) = self.sink.as_mut() {
            sink(std::mem::take(&mut self.lines));
        }
    }
}

/// The import lines for `spec`, in time order.
pub fn generate(spec: &Spec) -> Vec<Line> {
    let mut lines = run(spec, None);
    lines.sort_by_key(|l| l.at);
    lines
}

/// Each case's lines (and each reception's) as they are made, in no global order: for sizes
/// that do not fit in memory.
pub fn for_each_case(spec: &Spec, mut f: impl FnMut(Vec<Line>)) {
    run(spec, Some(&mut f));
}

fn run(spec: &Spec, sink: Option<&mut dyn FnMut(Vec<Line>)>) -> Vec<Line> {
    let offset = caseflow_runtime::clock::district_offset();
    let end = spec.start.checked_add_months(chrono::Months::new(spec.months)).unwrap_or(spec.start);
    // As of the bulletin's date (2020-07-23 for the first half of 2020): the start of the 23rd
    // day after the half-year ends, the moment its reports are read as of.
    let cutoff = offset
        .from_local_datetime(&(end + Duration::days(22)).and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .unwrap_or_else(|| chrono::Utc::now().with_timezone(&offset));
    let mut g = Gen {
        rng: Rng::new(spec.seed),
        lines: Vec::new(),
        sink,
        cutoff,
        bounced: 0,
        reviewed: 0,
        catalog: caseflow_routing::catalog::Catalog::load(None).ok(),
    };
    let count = |n: f64| ((n * spec.scale).round() as usize).max(1);
    if spec.previous_year
        && let Some(before) = spec.start.checked_sub_months(chrono::Months::new(12))
    {
        g.period(before, spec.months, count(2575.0), count(614.0));
    }
    // The reported half-year has its own couple of contested answers and bounced complaints.
    g.reviewed = 0;
    g.bounced = 0;
    g.period(spec.start, spec.months, count(2577.0), count(602.0));
    g.lines
}

/// Writes `lines` as JSON Lines.
pub fn write(lines: &[Line], out: &mut impl std::io::Write) -> std::io::Result<()> {
    for line in lines {
        serde_json::to_writer(&mut *out, line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_file_and_another_seed_another() {
        let spec = Spec { scale: 0.02, ..Spec::default() };
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        write(&generate(&spec), &mut a).expect("written");
        write(&generate(&spec), &mut b).expect("written");
        write(&generate(&Spec { seed: 7, ..spec }), &mut c).expect("written");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn streaming_gives_the_same_lines_case_by_case() {
        let spec = Spec { scale: 0.02, ..Spec::default() };
        let mut streamed = Vec::new();
        let mut cases = 0;
        for_each_case(&spec, |lines| {
            cases += 1;
            streamed.extend(lines);
        });
        streamed.sort_by_key(|l| l.at);
        assert_eq!(streamed, generate(&spec));
        assert!(cases > 100, "one call per case: {cases}");
    }

    #[test]
    fn every_generated_line_reads_back_and_lines_are_in_time_order() {
        let lines = generate(&Spec { scale: 0.05, ..Spec::default() });
        let mut text = Vec::new();
        write(&lines, &mut text).expect("written");
        let text = String::from_utf8(text).expect("utf-8");
        let parsed: Vec<Line> = text.lines().map(|l| format::parse(l).expect("reads back")).collect();
        assert_eq!(parsed, lines);
        assert!(lines.windows(2).all(|w| w[0].at <= w[1].at));
        let kinds: std::collections::BTreeSet<&str> = lines.iter().map(|l| l.event.kind()).collect();
        for kind in [
            "hotline_order",
            "petition",
            "acknowledge",
            "resolve",
            "return_request",
            "return_decision",
            "rating",
            "expiry",
            "leader_reception",
            "designate",
        ] {
            assert!(kinds.contains(kind), "a half-year has {kind} lines: {kinds:?}");
        }
    }
}

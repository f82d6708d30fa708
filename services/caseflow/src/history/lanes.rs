//! Which lines of an import must keep their order, and which may go at once.
//!
//! Lines about the same case keep their time order: a reply needs the dispatch its order made.
//! So do cases tied together: a case that names a related case; the cases of one person, by
//! phone or resident ID number, because intake judges a repeat by the person's earlier cases
//! (the first case of a matter is the earliest one taken in); a leader reception and the cases
//! its matters were registered as. Everything else is independent: each service applies a line
//! at its own `at`, and reporting's figures do not depend on the order events arrive in
//! (reporting's property test). The groups below are those ties' connected parts; the importer
//! runs the groups at once, each in time order.

use std::collections::HashMap;

use super::format::{Event, Line};

/// What a line is about, as keys: a line joins every group its keys are in.
fn keys(line: &Line) -> Vec<String> {
    let case = |c: &str| format!("case:{c}");
    let person = |phone: &str, id: &str| {
        let mut k = Vec::new();
        let phone = caseflow_intake::citizen::normalize_phone(phone);
        if !phone.is_empty() {
            k.push(format!("phone:{phone}"));
        }
        let id = id.trim().to_ascii_uppercase();
        if !id.is_empty() {
            k.push(format!("id:{id}"));
        }
        k
    };
    match &line.event {
        Event::HotlineOrder { order } => {
            let mut k = vec![case(&order.order_number)];
            k.extend(order.related_case.as_deref().map(case));
            k.extend(person(&order.citizen.phone, &order.citizen.id_number));
            k
        }
        Event::Petition { petition } => {
            let mut k = vec![case(&petition.petition_number)];
            k.extend(petition.related_case.as_deref().map(case));
            k.extend(person(&petition.citizen.phone, &petition.citizen.id_number));
            k
        }
        Event::Acknowledge { dispatch, .. }
        | Event::Land { dispatch, .. }
        | Event::Reply { dispatch, .. }
        | Event::CaseAnalysis { dispatch, .. }
        | Event::Review { dispatch, .. }
        | Event::Resolve { dispatch, .. }
        | Event::ReturnRequest { dispatch, .. }
        | Event::ReturnDecision { dispatch, .. }
        | Event::ExtensionRequest { dispatch, .. }
        | Event::ExtensionDecision { dispatch, .. }
        | Event::Transfer { dispatch, .. } => vec![case(&dispatch.case)],
        Event::Designate { case: c, .. }
        | Event::Assign { case: c, .. }
        | Event::Rating { case: c, .. }
        | Event::Expiry { case: c, .. }
        | Event::FollowUp { case: c, .. }
        | Event::PetitionDecision { case: c, .. }
        | Event::ReviewRequest { case: c, .. }
        | Event::ReviewDecision { case: c, .. } => vec![case(c)],
        Event::LeaderReception { reception_number, matters, .. } => {
            let mut k = vec![format!("reception:{reception_number}")];
            k.extend(matters.iter().filter_map(|m| m.case.as_deref()).map(case));
            k
        }
        Event::ReceptionOutcome { reception_number, .. } => vec![format!("reception:{reception_number}")],
    }
}

/// Union-find over the keys.
#[derive(Default)]
struct Ties {
    index: HashMap<String, usize>,
    parent: Vec<usize>,
}

impl Ties {
    fn id(&mut self, key: String) -> usize {
        let next = self.parent.len();
        let id = *self.index.entry(key).or_insert(next);
        if id == next {
            self.parent.push(next);
        }
        id
    }

    fn root(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

/// The lines (indexes into `lines`, which are in time order) in groups that must keep their
/// order; each group in time order, the groups in the order of their first line.
pub fn groups(lines: &[(usize, Line)]) -> Vec<Vec<usize>> {
    let mut ties = Ties::default();
    let firsts: Vec<usize> = lines
        .iter()
        .map(|(_, line)| {
            let ids: Vec<usize> = keys(line).into_iter().map(|k| ties.id(k)).collect();
            for pair in ids.windows(2) {
                ties.join(pair[0], pair[1]);
            }
            ids[0]
        })
        .collect();
    let mut by_root: HashMap<usize, usize> = HashMap::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, first) in firsts.into_iter().enumerate() {
        let root = ties.root(first);
        let g = *by_root.entry(root).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[g].push(i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Vec<(usize, Line)> {
        lines.iter().enumerate().map(|(i, l)| (i + 1, super::super::format::parse(l).expect("a line"))).collect()
    }

    fn order(number: &str, phone: &str, related: Option<&str>) -> String {
        let related = related.map(|r| format!(r#","related_case":"{r}""#)).unwrap_or_default();
        format!(
            r#"{{"at":"2020-03-02T09:00:00+08:00","type":"hotline_order","order":{{"order_number":"{number}","received_at":"2020-03-02T09:00:00+08:00","channel":"phone","kind":"complaint","category":"urban_management.cooking_fume","content":"油烟","location":{{"sub_district":"kaiyuan","address":"路"}},"citizen":{{"name":"陈建红","phone":"{phone}"}},"matters":[{{"category":"urban_management.cooking_fume","summary":"油烟"}}]{related}}}}}"#
        )
    }

    fn resolve(case: &str) -> String {
        format!(
            r#"{{"at":"2020-03-05T09:00:00+08:00","type":"resolve","case":"{case}","matter":1,"unit":"chengguan"}}"#
        )
    }

    #[test]
    fn a_cases_lines_a_persons_cases_and_related_cases_keep_one_order() {
        let lines = [
            order("A", "13800000001", None),
            order("B", "13800000002", None),
            order("C", "+86 138-0000-0001", None),
            order("D", "13800000003", Some("B")),
            resolve("A"),
            order("E", "13800000004", None),
        ];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let groups = groups(&parse(&refs));
        // A and C: one person (the same phone written two ways), with A's resolve; B and D: D
        // names B; E alone.
        assert_eq!(groups, vec![vec![0, 2, 4], vec![1, 3], vec![5]]);
    }
}

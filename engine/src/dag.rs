//! The step graph: who needs whom, as pure data.
//!
//! Built from `needs` before anything runs, so that validation can name a whole cycle
//! (`a → b → c → a`), decide which steps a template may read (only those upstream of
//! the reader), and the runtime can start steps in a deterministic order: among the
//! steps ready at once, the one written first in the file goes first. `medic graph`
//! exports it to Graphviz and Mermaid.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::workflow::Workflow;

/// A dependency cycle, in `needs` order: each step needs the next, and the last needs
/// the first (which is repeated at the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The steps of the cycle, the first repeated at the end.
    pub chain: Vec<String>,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.chain.join(" → "))
    }
}

/// The graph of steps. Node indices follow file order; an edge goes from a needed step
/// to the step that needs it (the direction work flows).
#[derive(Debug, Clone, Default)]
pub struct Dag {
    graph: DiGraph<String, ()>,
    index: HashMap<String, NodeIndex>,
}

impl Dag {
    /// Build from `(step id, needs)` in file order. Needs naming unknown steps and repeated
    /// ids are ignored here: validation reports them with their location.
    pub fn new<'a, I, N>(steps: I) -> Dag
    where
        I: IntoIterator<Item = (&'a str, N)>,
        N: IntoIterator<Item = &'a str>,
    {
        let mut dag = Dag::default();
        let mut edges = Vec::new();
        for (id, needs) in steps {
            if dag.index.contains_key(id) {
                continue;
            }
            let node = dag.graph.add_node(id.to_string());
            dag.index.insert(id.to_string(), node);
            edges.push((node, needs.into_iter().collect::<Vec<_>>()));
        }
        for (node, needs) in edges {
            for need in needs {
                if let Some(&from) = dag.index.get(need)
                    && dag.graph.find_edge(from, node).is_none()
                {
                    dag.graph.add_edge(from, node, ());
                }
            }
        }
        dag
    }

    /// The graph of a validated workflow (every phase).
    pub fn from_workflow(workflow: &Workflow) -> Dag {
        Dag::new(
            workflow
                .steps
                .iter()
                .map(|s| (s.id.as_str(), s.needs.iter().map(String::as_str))),
        )
    }

    /// Step ids in file order.
    pub fn steps(&self) -> impl Iterator<Item = &str> {
        self.graph.node_indices().map(|i| self.graph[i].as_str())
    }

    /// Whether a step with this id exists.
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// The steps `id` needs directly, in file order.
    pub fn needs(&self, id: &str) -> Vec<&str> {
        self.neighbours(id, Direction::Incoming)
    }

    /// The steps that need `id` directly, in file order.
    pub fn dependents(&self, id: &str) -> Vec<&str> {
        self.neighbours(id, Direction::Outgoing)
    }

    fn neighbours(&self, id: &str, dir: Direction) -> Vec<&str> {
        let Some(&node) = self.index.get(id) else {
            return Vec::new();
        };
        let mut found: Vec<NodeIndex> = self.graph.neighbors_directed(node, dir).collect();
        found.sort();
        found.into_iter().map(|i| self.graph[i].as_str()).collect()
    }

    /// Every step `id` transitively needs, in file order; `id` itself only when it is on
    /// a cycle.
    pub fn upstream(&self, id: &str) -> Vec<&str> {
        let Some(&start) = self.index.get(id) else {
            return Vec::new();
        };
        let mut seen = vec![false; self.graph.node_count()];
        let mut stack = vec![start];
        while let Some(node) = stack.pop() {
            for need in self.graph.neighbors_directed(node, Direction::Incoming) {
                if !seen[need.index()] {
                    seen[need.index()] = true;
                    stack.push(need);
                }
            }
        }
        self.graph
            .node_indices()
            .filter(|i| seen[i.index()])
            .map(|i| self.graph[i].as_str())
            .collect()
    }

    /// Whether `ancestor` is (transitively) needed by `id`. Searches backwards from `id`
    /// and stops as soon as it meets `ancestor`: templates mostly read a step's direct
    /// needs, so this is usually one hop, even in long chains.
    pub fn is_upstream(&self, ancestor: &str, id: &str) -> bool {
        let (Some(&start), Some(&goal)) = (self.index.get(id), self.index.get(ancestor)) else {
            return false;
        };
        let mut seen = vec![false; self.graph.node_count()];
        let mut stack = vec![start];
        while let Some(node) = stack.pop() {
            for need in self.graph.neighbors_directed(node, Direction::Incoming) {
                if need == goal {
                    return true;
                }
                if !seen[need.index()] {
                    seen[need.index()] = true;
                    stack.push(need);
                }
            }
        }
        false
    }

    /// A topological order where, among the steps ready at once, the one written first
    /// goes first; or every cycle when there is none.
    pub fn topo_order(&self) -> Result<Vec<&str>, Vec<Cycle>> {
        let n = self.graph.node_count();
        let mut missing: Vec<usize> = self
            .graph
            .node_indices()
            .map(|i| {
                self.graph
                    .neighbors_directed(i, Direction::Incoming)
                    .count()
            })
            .collect();
        let mut ready: BinaryHeap<Reverse<NodeIndex>> = self
            .graph
            .node_indices()
            .filter(|i| missing[i.index()] == 0)
            .map(Reverse)
            .collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse(node)) = ready.pop() {
            order.push(self.graph[node].as_str());
            for next in self.graph.neighbors_directed(node, Direction::Outgoing) {
                missing[next.index()] -= 1;
                if missing[next.index()] == 0 {
                    ready.push(Reverse(next));
                }
            }
        }
        if order.len() == n {
            Ok(order)
        } else {
            Err(self.cycles())
        }
    }

    /// Every dependency cycle, one per strongly connected group of steps, each starting
    /// at the group's step written first and following the shortest way back to it.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut cycles = Vec::new();
        for mut group in petgraph::algo::tarjan_scc(&self.graph) {
            group.sort();
            let Some(&start) = group.first() else {
                continue;
            };
            let self_loop = self.graph.find_edge(start, start).is_some();
            if group.len() == 1 && !self_loop {
                continue;
            }
            if self_loop {
                let id = self.graph[start].clone();
                cycles.push(Cycle {
                    chain: vec![id.clone(), id],
                });
                continue;
            }
            if let Some(chain) = self.shortest_cycle(start, &group) {
                cycles.push(Cycle { chain });
            }
        }
        cycles.sort_by_key(|c| c.chain.first().and_then(|id| self.index.get(id)).copied());
        cycles
    }

    /// Breadth-first along `needs` from `start` back to it, within `group`.
    fn shortest_cycle(&self, start: NodeIndex, group: &[NodeIndex]) -> Option<Vec<String>> {
        let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            let mut needs: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(node, Direction::Incoming)
                .filter(|n| group.binary_search(n).is_ok())
                .collect();
            needs.sort();
            for need in needs {
                if need == start {
                    let mut chain = vec![self.graph[start].clone()];
                    let mut path = vec![node];
                    let mut cur = node;
                    while let Some(&p) = parent.get(&cur) {
                        path.push(p);
                        cur = p;
                    }
                    // `path` runs from `node` back to `start`; reversed, it runs forward.
                    path.pop();
                    chain.extend(path.iter().rev().map(|i| self.graph[*i].clone()));
                    chain.push(self.graph[start].clone());
                    return Some(chain);
                }
                if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(need) {
                    e.insert(node);
                    queue.push_back(need);
                }
            }
        }
        None
    }

    /// Graphviz `dot` text of the graph.
    pub fn to_dot(&self, name: &str) -> String {
        let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = format!("digraph {} {{\n  rankdir=LR;\n", quote(name));
        for i in self.graph.node_indices() {
            out.push_str(&format!("  {};\n", quote(&self.graph[i])));
        }
        for e in self.sorted_edges() {
            out.push_str(&format!(
                "  {} -> {};\n",
                quote(&self.graph[e.0]),
                quote(&self.graph[e.1])
            ));
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart text of the graph.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for i in self.graph.node_indices() {
            let label = self.graph[i].replace('"', "#quot;");
            out.push_str(&format!("  n{}[\"{label}\"]\n", i.index()));
        }
        for (from, to) in self.sorted_edges() {
            out.push_str(&format!("  n{} --> n{}\n", from.index(), to.index()));
        }
        out
    }

    fn sorted_edges(&self) -> Vec<(NodeIndex, NodeIndex)> {
        let mut edges: Vec<(NodeIndex, NodeIndex)> = self
            .graph
            .edge_indices()
            .filter_map(|e| self.graph.edge_endpoints(e))
            .collect();
        edges.sort_by_key(|(from, to)| (*to, *from));
        edges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(steps: &[(&'static str, &[&'static str])]) -> Dag {
        Dag::new(steps.iter().map(|(id, needs)| (*id, needs.iter().copied())))
    }

    #[test]
    fn order_follows_the_file_among_ready_steps() {
        let d = dag(&[
            ("deploy", &["test", "lint"]),
            ("lint", &[]),
            ("test", &["build"]),
            ("build", &[]),
        ]);
        assert_eq!(
            d.topo_order().unwrap(),
            vec!["lint", "build", "test", "deploy"]
        );
    }

    #[test]
    fn cycles_name_the_whole_chain() {
        let d = dag(&[
            ("ok", &[]),
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["a", "ok"]),
        ]);
        let cycles = d.topo_order().unwrap_err();
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].to_string(), "a → b → c → a");
    }

    #[test]
    fn self_needs_and_separate_cycles_are_all_reported() {
        let d = dag(&[("x", &["x"]), ("a", &["b"]), ("b", &["a"])]);
        let cycles: Vec<String> = d.cycles().iter().map(ToString::to_string).collect();
        assert_eq!(cycles, vec!["x → x", "a → b → a"]);
    }

    #[test]
    fn upstream_is_transitive_and_in_file_order() {
        let d = dag(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("d", &[])]);
        assert_eq!(d.upstream("c"), vec!["a", "b"]);
        assert!(d.is_upstream("a", "c"));
        assert!(!d.is_upstream("d", "c"));
        assert!(d.upstream("nope").is_empty());
        assert_eq!(d.dependents("a"), vec!["b"]);
        assert_eq!(d.needs("c"), vec!["b"]);
    }

    #[test]
    fn unknown_needs_are_ignored() {
        let d = dag(&[("a", &["ghost"])]);
        assert_eq!(d.topo_order().unwrap(), vec!["a"]);
    }

    #[test]
    fn exports_dot_and_mermaid() {
        let d = dag(&[("build", &[]), ("te\"st", &["build"])]);
        assert_eq!(
            d.to_dot("ci"),
            "digraph \"ci\" {\n  rankdir=LR;\n  \"build\";\n  \"te\\\"st\";\n  \"build\" -> \"te\\\"st\";\n}\n"
        );
        assert_eq!(
            d.to_mermaid(),
            "flowchart LR\n  n0[\"build\"]\n  n1[\"te#quot;st\"]\n  n0 --> n1\n"
        );
    }
}

//! No input makes vnetlab panic: random text, and the examples with random damage, are parsed,
//! compiled and applied; each either works or gives an error.

use proptest::prelude::*;

use crate::{fresh_lab, up};

const EXAMPLES: [&str; 4] = [
    include_str!("../../../../examples/sales-marketing.yaml"),
    include_str!("../../../../examples/hub-and-spoke.yaml"),
    include_str!("../../../../examples/mesh.yaml"),
    include_str!("../../../../examples/global-peering.yaml"),
];

fn char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

proptest! {
    #[test]
    fn random_text_never_panics(text in "\\PC{0,300}") {
        let _ = up(&fresh_lab(), "random.yaml", &text);
    }

    #[test]
    fn damaged_examples_never_panic(which in 0..EXAMPLES.len(), start in 0usize..4000, len in 0usize..40, insert in "[\\PC\\n ]{0,12}") {
        let text = EXAMPLES[which];
        let a = char_boundary(text, start);
        let b = char_boundary(text, a + len);
        let damaged = format!("{}{insert}{}", &text[..a], &text[b..]);
        match up(&fresh_lab(), "damaged.yaml", &damaged) {
            Ok(state) => prop_assert!(vnetlab_engine::invariants::check(&state).is_empty()),
            Err(e) => prop_assert!(!e.message.is_empty()),
        }
    }
}

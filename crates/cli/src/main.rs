//! The `dx` binary.
fn main() {
    println!("dx");
}

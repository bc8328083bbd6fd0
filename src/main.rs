fn main() {
    println!("resloop");
}

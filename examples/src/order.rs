//! The JSON [`Order`] the producer service publishes to `kafka-market` and
//! the consumer service relays to its webhook, with the checks a purchase
//! must pass before it is published.

use serde::{Deserialize, Serialize};

/// The topic orders are published to by default.
pub const ORDERS_TOPIC: &str = "kafka-market";

/// A purchase order, as posted to `/orders/purchase`:
///
/// ```json
/// {"id": "order-1", "product": "apples", "quantity": 3, "price": 1.25, "customer": "ada"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// The order id; also the record key, so one order's records stay in
    /// order on one partition.
    pub id: String,
    /// What is bought.
    pub product: String,
    /// How many.
    pub quantity: u32,
    /// Unit price.
    pub price: f64,
    /// Who buys.
    pub customer: String,
}

impl Order {
    /// Checks the order makes sense; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("id must not be empty".into());
        }
        if self.product.trim().is_empty() {
            return Err("product must not be empty".into());
        }
        if self.customer.trim().is_empty() {
            return Err("customer must not be empty".into());
        }
        if self.quantity == 0 {
            return Err("quantity must be at least 1".into());
        }
        if !self.price.is_finite() || self.price < 0.0 {
            return Err("price must be a non-negative number".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn validation() {
        let order = Order {
            id: "o-1".into(),
            product: "apples".into(),
            quantity: 2,
            price: 1.5,
            customer: "ada".into(),
        };
        assert_eq!(order.validate(), Ok(()));
        let json = serde_json::to_string(&order).unwrap();
        assert_eq!(serde_json::from_str::<Order>(&json).unwrap(), order);
        let zero = Order {
            quantity: 0,
            ..order.clone()
        };
        assert!(zero.validate().unwrap_err().contains("quantity"));
        let nameless = Order {
            id: " ".into(),
            ..order
        };
        assert!(nameless.validate().unwrap_err().contains("id"));
    }
}

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub code: String,
    pub version: i32,
    pub name: String,
    pub description: Option<String>,
    pub price_minor: i64,
    pub currency: String,
    pub interval: String,
    pub trial_days: i32,
    pub rank: i32,
    pub modules: Json,
    pub limits: Json,
    pub metered_prices: Json,
    pub active: bool,
    pub grace_days: Option<i32>,
    pub tax_rate_bp: Option<i32>,
    pub created_at: DateTimeUtc,
    pub isolation: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Runner install templates: listing, CRUD, and the built-in (system) ones, which are seeded
//! once and can only be restored, never edited or deleted.

use super::*;

const TEMPLATE_COLS: &str = "id, name, description, os_type, forge_type, owner_id, data, created_at, updated_at";

fn template_row(r: &sqlx::any::AnyRow) -> Result<TemplateRecord> {
    Ok(TemplateRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        os_type: r.try_get("os_type")?,
        forge_type: r.try_get("forge_type")?,
        owner_id: r.try_get("owner_id")?,
        data: r.try_get("data")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
    })
}

impl Store {
    /// Templates matching `filter`, by id.
    pub async fn templates(&self, filter: &TemplateFilter) -> Result<Vec<TemplateRecord>> {
        let rows = sqlx::query(&format!("SELECT {TEMPLATE_COLS} FROM templates ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let t = template_row(row)?;
            let name_ok = filter
                .partial_name
                .as_deref()
                .is_none_or(|part| t.name.to_lowercase().contains(&part.to_lowercase()));
            let os_ok = filter.os_type.as_deref().is_none_or(|os| t.os_type == os);
            let forge_ok = filter.forge_type.as_deref().is_none_or(|f| t.forge_type == f);
            if name_ok && os_ok && forge_ok {
                out.push(t);
            }
        }
        Ok(out)
    }

    pub async fn template(&self, id: i64) -> Result<TemplateRecord> {
        let row = sqlx::query(&format!("SELECT {TEMPLATE_COLS} FROM templates WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("template {id}")))?;
        template_row(&row)
    }

    /// The system template for an OS and forge, if seeded.
    pub async fn system_template(&self, os_type: &str, forge_type: &str) -> Result<Option<TemplateRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {TEMPLATE_COLS} FROM templates WHERE owner_id = $1 AND os_type = $2 AND forge_type = $3 ORDER BY id"
        ))
        .bind(TemplateRecord::SYSTEM)
        .bind(os_type)
        .bind(forge_type)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(template_row).transpose()
    }

    /// Inserts a template (its `id`, `created_at` and `updated_at` are assigned here).
    pub async fn create_template(&self, t: &TemplateRecord) -> Result<TemplateRecord> {
        let at = ts(&now());
        let row = sqlx::query("INSERT INTO templates (name, description, os_type, forge_type, owner_id, data, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id")
            .bind(&t.name)
            .bind(&t.description)
            .bind(&t.os_type)
            .bind(&t.forge_type)
            .bind(&t.owner_id)
            .bind(&t.data)
            .bind(&at)
            .bind(&at)
            .fetch_one(&self.pool)
            .await
            .map_err(|err| conflict_as(err, format!("template {}", t.name)))?;
        self.template(row.try_get("id")?).await
    }

    /// Writes a template's name, description and text.
    pub async fn update_template(&self, t: &TemplateRecord) -> Result<TemplateRecord> {
        let done = sqlx::query("UPDATE templates SET name=$1, description=$2, data=$3, updated_at=$4 WHERE id=$5")
            .bind(&t.name)
            .bind(&t.description)
            .bind(&t.data)
            .bind(ts(&now()))
            .bind(t.id)
            .execute(&self.pool)
            .await
            .map_err(|err| conflict_as(err, format!("template {}", t.name)))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("template {}", t.id)));
        }
        self.template(t.id).await
    }

    /// Deletes a template no pool uses.
    pub async fn delete_template(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        super::creates::refuse_if_used(&mut tx, "template_id", "template", id).await?;
        sqlx::query("DELETE FROM templates WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes sure each built-in template exists (inserted in the order given, so the ids
    /// match garm's on a fresh database); existing ones are left as they are.
    pub async fn seed_system_templates(&self, builtins: &[TemplateRecord]) -> Result<()> {
        for t in builtins {
            if self.system_template(&t.os_type, &t.forge_type).await?.is_some() {
                continue;
            }
            match self.create_template(t).await {
                Err(err) if err.is_conflict() => {}
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }

    /// Rewrites the text (and description) of the system template for `t`'s OS and forge
    /// from the built-in copy `t`, creating it if it is missing.
    pub async fn restore_system_template(&self, t: &TemplateRecord) -> Result<TemplateRecord> {
        match self.system_template(&t.os_type, &t.forge_type).await? {
            Some(mut current) => {
                current.description = t.description.clone();
                current.data = t.data.clone();
                self.update_template(&current).await
            }
            None => self.create_template(t).await,
        }
    }
}

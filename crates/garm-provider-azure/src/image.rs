//! Pool `image` strings: marketplace URNs, community gallery and shared gallery image IDs.

use serde_json::{json, Value};

use crate::error::AzureError;

/// Where a VM's OS image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// `Publisher:Offer:Sku:Version`.
    Marketplace {
        publisher: String,
        offer: String,
        sku: String,
        version: String,
    },
    /// `/CommunityGalleries/<gallery>/Images/<definition>/Versions/<version>`.
    Community(String),
    /// A shared image gallery image (version) ID.
    Gallery(String),
}

impl Image {
    /// Parses the pool's image string the way the reference provider does.
    pub fn parse(text: &str) -> Result<Image, AzureError> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix('/') {
            if path.to_ascii_lowercase().starts_with("communitygalleries/") {
                return Ok(Image::Community(text.to_owned()));
            }
            return Ok(Image::Gallery(text.to_owned()));
        }
        let fields: Vec<&str> = text.split(':').collect();
        if fields.len() != 4 || fields.iter().any(|field| field.trim().is_empty()) {
            return Err(AzureError::Refused(format!(
                "image {text:?} is neither Publisher:Offer:Sku:Version nor a gallery image ID"
            )));
        }
        Ok(Image::Marketplace {
            publisher: fields[0].to_owned(),
            offer: fields[1].to_owned(),
            sku: fields[2].to_owned(),
            version: fields[3].to_owned(),
        })
    }

    /// `storageProfile.imageReference`.
    pub fn reference(&self) -> Value {
        match self {
            Image::Marketplace {
                publisher,
                offer,
                sku,
                version,
            } => json!({"publisher": publisher, "offer": offer, "sku": sku, "version": version}),
            Image::Community(id) => json!({"communityGalleryImageId": id}),
            Image::Gallery(id) => json!({"id": id}),
        }
    }

    /// `(os_name, os_version)` for the instance tags: the SKU and version of a marketplace
    /// image, or the image definition and version named in a gallery ID.
    pub fn os_name_and_version(&self) -> (String, String) {
        match self {
            Image::Marketplace { sku, version, .. } => (sku.clone(), version.clone()),
            Image::Community(id) | Image::Gallery(id) => {
                let segments: Vec<&str> = id.split('/').collect();
                let after = |key: &str| {
                    segments
                        .iter()
                        .position(|segment| segment.eq_ignore_ascii_case(key))
                        .and_then(|index| segments.get(index + 1))
                        .map(|value| value.to_string())
                };
                (
                    after("images").unwrap_or_else(|| "unknown".to_owned()),
                    after("versions").unwrap_or_else(|| "latest".to_owned()),
                )
            }
        }
    }

    /// Whether the image is known to be a confidential VM image: marketplace SKUs of CVM
    /// images name it (`22_04-lts-cvm`, `cvm`, `2022-datacenter-cvm`). Gallery images
    /// cannot be told apart here and are left for Azure to check (`None`).
    pub fn is_confidential_image(&self) -> Option<bool> {
        match self {
            Image::Marketplace { sku, offer, .. } => {
                Some(sku.to_ascii_lowercase().contains("cvm") || offer.to_ascii_lowercase().contains("cvm"))
            }
            Image::Community(_) | Image::Gallery(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marketplace_urns_have_exactly_four_fields() {
        let image = Image::parse("Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest").unwrap();
        assert_eq!(
            image.reference(),
            json!({"publisher": "Canonical", "offer": "0001-com-ubuntu-confidential-vm-jammy", "sku": "22_04-lts-cvm", "version": "latest"})
        );
        assert_eq!(image.os_name_and_version(), ("22_04-lts-cvm".into(), "latest".into()));
        assert_eq!(image.is_confidential_image(), Some(true));
        assert!(Image::parse("Canonical:ubuntu:22_04").is_err());
        assert!(Image::parse("a:b::d").is_err());
        let plain = Image::parse("Canonical:ubuntu-24_04-lts:server:latest").unwrap();
        assert_eq!(plain.is_confidential_image(), Some(false));
    }

    #[test]
    fn gallery_ids_become_id_references() {
        let community = Image::parse("/CommunityGalleries/g-1/Images/runner/Versions/1.2.3").unwrap();
        assert_eq!(
            community.reference(),
            json!({"communityGalleryImageId": "/CommunityGalleries/g-1/Images/runner/Versions/1.2.3"})
        );
        assert_eq!(community.os_name_and_version(), ("runner".into(), "1.2.3".into()));
        let shared = Image::parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/def/versions/2.0.0",
        )
        .unwrap();
        assert!(matches!(shared, Image::Gallery(_)));
        assert_eq!(shared.os_name_and_version(), ("def".into(), "2.0.0".into()));
        assert_eq!(shared.is_confidential_image(), None);
    }
}
